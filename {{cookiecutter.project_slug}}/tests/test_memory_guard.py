"""The memory guard, driven by a fake memory source: shedding, readiness,
MemoryError recovery, and a request path that never reads memory itself."""

import asyncio
import json
import logging
import os
import time

import httpx
import pytest

from {{ cookiecutter.project_slug }}.memory import guard as guard_module
from {{ cookiecutter.project_slug }}.memory.probe import Reading

from tests.conftest import client_for
from tests.helpers import OPS, OPS_TOKEN, assert_error, serving

pytestmark = pytest.mark.anyio
MB = 1 << 20


class FakeMemory:
    """A system reading whose pressure the test sets; counts how often it is read."""

    def __init__(self, percent: float = 40.0) -> None:
        self.percent = percent
        self.calls = 0

    def __call__(self) -> Reading:
        self.calls += 1
        return Reading(int(self.percent * 10 * MB), 1000 * MB, "fake")


@pytest.fixture
async def guarded(app_with):
    """(app, client, fake): an app whose probe reads the fake, and a sampler
    slow enough that only the test takes samples."""
    async with app_with(memory_sample_interval_ms=60_000) as app, client_for(app) as client:
        fake = FakeMemory()
        app.state.memory_probe.read_system = fake
        app.state.memory_probe.sample()
        yield app, client, fake


def at(app, fake: FakeMemory, percent: float) -> None:
    fake.percent = percent
    app.state.memory_probe.sample()


async def test_sheds_above_the_threshold_and_recovers_below(guarded, make_user, api):
    app, client, fake = guarded
    alice = await make_user("alice@example.org")
    threshold = app.state.settings.memory_threshold_percent
    assert (await client.get(f"{api}/uploads", headers=alice)).status_code == 200

    at(app, fake, threshold + 1)
    response = await client.get(f"{api}/uploads", headers=alice)
    assert_error(response, 503, "memory_pressure")
    assert response.headers["Retry-After"] == "5"
    # Health endpoints always pass: they are how operators see the pressure.
    assert (await client.get(f"{api}/health")).status_code == 200
    memory = (await client.get(f"{api}/health/memory", headers=OPS)).json()
    assert memory["shedding"] is True and memory["counters"]["requests_shed"] == 1

    at(app, fake, threshold - 1)
    assert (await client.get(f"{api}/uploads", headers=alice)).status_code == 200


async def test_only_paths_under_the_health_prefix_pass_while_shedding(guarded, api):
    """Whole path segments: /health/ready is under /health, /healthz is not."""
    app, client, fake = guarded
    at(app, fake, app.state.settings.memory_threshold_percent + 1)
    assert (await client.get(f"{api}/health/ready")).status_code == 200
    assert_error(await client.get(f"{api}/healthz"), 503, "memory_pressure")
    assert_error(await client.get(f"{api}/health-report"), 503, "memory_pressure")
    assert app.state.memory_guard.counters.requests_shed == 2


async def test_above_critical_readiness_fails_and_one_emergency_collection_runs(
    guarded, api, caplog
):
    app, client, fake = guarded
    critical = app.state.settings.memory_critical_percent
    with caplog.at_level(logging.WARNING):
        at(app, fake, critical + 1)
        at(app, fake, critical + 2)  # within a few seconds: no second collection
    assert app.state.memory_guard.counters.emergency_collections == 1
    warning = next(r for r in caplog.records if "emergency collection" in r.getMessage())
    assert f"{critical + 1:.1f}%" in warning.getMessage()

    assert_error(await client.get(f"{api}/health/ready"), 503, "service_unavailable")
    assert (await client.get(f"{api}/health")).status_code == 200
    memory = await client.get(f"{api}/health/memory", headers=OPS)
    assert memory.status_code == 200 and memory.json()["ready"] is False

    at(app, fake, critical - 20)
    assert (await client.get(f"{api}/health/ready")).status_code == 200


async def test_shedding_ends_when_a_quiet_reclaim_brings_pressure_down(
    guarded, make_user, api, monkeypatch
):
    app, client, fake = guarded
    guard = app.state.memory_guard
    alice = await make_user("alice@example.org")
    threshold = app.state.settings.memory_threshold_percent
    # What a load left behind: memory the allocator holds but no longer uses.
    monkeypatch.setattr(guard_module, "release_free_memory", lambda: at(app, fake, threshold - 5))
    at(app, fake, threshold + 1)
    assert_error(await client.get(f"{api}/uploads", headers=alice), 503, "memory_pressure")
    guard.in_flight = 1  # a request still running: no collection under it
    guard.next_reclaim = 0.0
    at(app, fake, threshold + 1)
    assert guard.counters.reclaims == 0
    guard.in_flight = 0  # quiet: the next sample reclaims
    at(app, fake, threshold + 1)
    assert guard.counters.reclaims == 1
    at(app, fake, fake.percent)  # the reclaim's effect, as the next sample sees it
    assert (await client.get(f"{api}/uploads", headers=alice)).status_code == 200
    assert guard.shedding_seconds() == 0


async def test_reclaims_back_off_and_readiness_fails_once_shedding_outlasts_its_grace(guarded, api):
    app, client, fake = guarded
    guard = app.state.memory_guard
    threshold = app.state.settings.memory_threshold_percent
    at(app, fake, threshold + 1)
    waits = []
    for _ in range(8):
        guard.next_reclaim = 0.0  # as if each wait had passed
        at(app, fake, threshold + 1)
        waits.append(guard.reclaim_wait)
    assert waits == sorted(waits) and waits[-1] == guard_module.RECLAIM_MAX_SECONDS
    # Shedding, but within its grace time: still ready.
    assert (await client.get(f"{api}/health/ready")).status_code == 200
    guard.pressed_since -= guard.shed_grace
    assert_error(await client.get(f"{api}/health/ready"), 503, "service_unavailable")
    memory = (await client.get(f"{api}/health/memory", headers=OPS)).json()
    assert memory["shedding"] is True and memory["ready"] is False
    assert memory["counters"]["reclaims"] == 8
    at(app, fake, threshold - 1)
    assert (await client.get(f"{api}/health/ready")).status_code == 200


async def test_a_memory_error_becomes_a_503_and_the_worker_keeps_serving(guarded, api):
    app, client, _ = guarded

    async def exhausting():
        hoard = [bytearray(1 << 20) for _ in range(8)]
        raise MemoryError(f"could not allocate after {len(hoard)} MB")

    app.add_api_route(f"{api}/exhausting", exhausting)
    response = await client.get(f"{api}/exhausting")
    assert_error(response, 503, "memory_exhausted")
    assert "Traceback" not in response.text
    assert app.state.memory_guard.counters.memory_errors_recovered == 1
    assert (await client.get(f"{api}/health")).status_code == 200
    assert (await client.get(f"{api}/health/ready")).status_code == 200


async def test_requests_never_read_memory_themselves(guarded, make_user, api):
    _, client, fake = guarded
    alice = await make_user("alice@example.org")
    before = fake.calls
    for _ in range(20):
        assert (await client.get(f"{api}/uploads", headers=alice)).status_code == 200
        assert (await client.get(f"{api}/health")).status_code == 200
    assert fake.calls == before


async def test_process_budget_counts_when_it_is_the_tighter_limit(app_with):
    async with app_with(memory_limit_mb=100) as app:
        probe = app.state.memory_probe
        probe.read_system = FakeMemory(10.0)
        probe.read_process_rss = lambda: 95 * MB
        sample = probe.sample()
        assert sample.source == "process"
        assert sample.pressure == pytest.approx(95.0)
        assert sample.limit == 100 * MB
        probe.read_process_rss = lambda: 5 * MB
        assert probe.sample().source == "fake"


async def test_the_sampler_runs_in_the_background(app_with, api):
    async with app_with(memory_sample_interval_ms=20) as app, client_for(app) as client:
        await asyncio.sleep(0.3)
        history = (await client.get(f"{api}/health/memory/history", headers=OPS)).json()
    samples = history["samples"]
    assert len(samples) >= 5
    times = [sample[0] for sample in samples]
    assert times == sorted(times)
    assert all(rss > 0 and 0 <= pressure <= 100 for _, rss, pressure in samples)
    assert history["threshold_percent"] < history["critical_percent"]


async def test_the_history_holds_every_workers_samples(app_with, api, tmp_path):
    """Each worker writes its history to MEMORY_SHARE_DIR; the one answering
    reads them all, leaves out a worker whose samples stopped, and removes
    its own file when it stops."""
    now = time.time()
    other = {
        "pid": 999_999,
        "samples": [[now - 1, 80.0, 5.0], [now, 81.0, 5.5]],
        "emergencies": [now],
    }
    gone = {"pid": 999_998, "samples": [[now - 60, 80.0, 5.0]], "emergencies": []}
    for history in (other, gone):
        (tmp_path / f"{history['pid']}.json").write_text(json.dumps(history))
    settings = {"memory_sample_interval_ms": 20, "memory_share_dir": tmp_path}
    async with app_with(**settings) as app, client_for(app) as client:
        app.state.memory_guard.emergency_times.append(now)
        await asyncio.sleep(1.2)  # a file is written at most once a second
        own = tmp_path / f"{os.getpid()}.json"
        assert json.loads(own.read_text())["samples"]
        history = (await client.get(f"{api}/health/memory/history", headers=OPS)).json()
    assert [worker["pid"] for worker in history["workers"]] == sorted([os.getpid(), 999_999])
    assert history["pid"] == os.getpid()
    this = next(worker for worker in history["workers"] if worker["pid"] == os.getpid())
    assert this["samples"] == history["samples"] and this["emergencies"] == [now]
    assert other in history["workers"]
    assert not own.exists()


async def test_memory_endpoint_reports_everything(client, api):
    body = (await client.get(f"{api}/health/memory", headers=OPS)).json()
    assert body["rss_mib"] > 0
    assert body["source"] in {"cgroup v2", "cgroup v1", "host", "process"}
    assert set(body["counters"]) == {
        "requests_shed",
        "memory_errors_recovered",
        "emergency_collections",
        "reclaims",
    }
    assert body["gc"]["frozen_objects"] > 0  # the start-up heap is frozen
    assert len(body["gc"]["collections_by_generation"]) == 3


async def test_periodic_collection_runs_and_zero_turns_it_off(app_with, api):
    async with app_with(gc_interval_seconds=1) as app:
        await asyncio.sleep(1.5)
        assert app.state.gc.collections >= 1
    async with app_with(gc_interval_seconds=0) as app:
        await asyncio.sleep(1.2)
        assert app.state.gc.collections == 0


async def test_dashboard_is_self_contained(client, api):
    response = await client.get(f"{api}/health/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "memory/history" in page
    assert "http://" not in page and "https://" not in page  # nothing from outside


@pytest.mark.slow
def test_a_worker_stuck_above_the_threshold_stops_saying_it_is_ready(database_url, tmp_path):
    # A process budget the idle worker already fills past the threshold (but
    # not the critical level): as after a load whose memory never came back.
    env = {
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "MEMORY_LIMIT_MB": "400",
        "MEMORY_THRESHOLD_PERCENT": "5",
        "MEMORY_CRITICAL_PERCENT": "99",
        "MEMORY_SHED_GRACE_SECONDS": "3",
        "MEMORY_SAMPLE_INTERVAL_MS": "100",
        "METRICS_TOKEN": OPS_TOKEN,
    }
    with serving(env) as (process, base):
        shed = httpx.get(f"{base}/api/users/me")
        assert_error(shed, 503, "memory_pressure")
        # Shedding and ready may disagree only for the grace time.
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/api/health/ready").status_code == 200:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
        memory = httpx.get(f"{base}/api/health/memory", headers=OPS).json()
    assert memory["shedding"] is True and memory["ready"] is False
    assert memory["shedding_seconds"] >= 3
    assert memory["counters"]["reclaims"] >= 1  # it tried before giving up
