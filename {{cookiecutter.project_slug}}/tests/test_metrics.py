"""Prometheus metrics: per route template, memory gauges, guard counters,
and one consistent view across several gunicorn workers.

In one process the metrics are global and add up over the whole test run,
so the in-process tests compare a scrape before and after.
"""

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.conftest import client_for
from tests.helpers import OPS, OPS_TOKEN, create_upload, serving
from tests.test_memory_guard import FakeMemory

pytestmark = pytest.mark.anyio


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for sample in samples(text)
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def test_metrics_need_the_metrics_token_or_an_administrator(client, alice, admin):
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=alice)).status_code == 403
    assert (await client.get("/metrics", headers=admin)).status_code == 200
    assert (await client.get("/metrics", headers=OPS)).status_code == 200


async def test_requests_are_counted_by_route_template(client, alice, api):
    before = (await client.get("/metrics", headers=OPS)).text
    upload_id = (await create_upload(client, api, alice))["id"]
    for _ in range(3):
        await client.get(f"{api}/uploads/{upload_id}", headers=alice)
    await client.get(f"{api}/no-such-route")
    text = (await client.get("/metrics", headers=OPS)).text

    def delta(name: str, **labels) -> float:
        return value(text, name, **labels) - value(before, name, **labels)

    route = api + "/uploads/{upload_id}"
    assert delta("http_requests_total", route=route, status="200", method="GET") == 3
    assert delta("http_requests_total", route="unmatched", status="404") == 1
    assert delta("http_request_duration_seconds_count", route=route) == 3
    # One series per template, never per raw path.
    assert not any(upload_id in s.labels.get("route", "") for s in samples(text))


async def test_memory_gauges_and_guard_counters(app_with):
    async with app_with(memory_sample_interval_ms=60_000) as app, client_for(app) as client:
        probe, fake = app.state.memory_probe, FakeMemory()
        probe.read_system = fake
        before = (await client.get("/metrics", headers=OPS)).text
        fake.percent = app.state.settings.memory_threshold_percent + 1
        probe.sample()
        assert (await client.get("/api/uploads")).status_code == 503
        # /metrics is never shed: it is how the pressure is seen.
        assert (await client.get("/metrics", headers=OPS)).status_code == 200
        probe.sample()  # the sampler exports the counters
        text = (await client.get("/metrics", headers=OPS)).text
    shed = "memory_guard_requests_shed_total"
    assert value(text, shed) - value(before, shed) == 1
    assert value(text, "memory_pressure_percent") == pytest.approx(fake.percent)
    assert value(text, "worker_resident_memory_bytes") > 0


async def test_several_workers_report_together(database_url, alice, tmp_path):
    env = {
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "MEMORY_SAMPLE_INTERVAL_MS": "100",
        "METRICS_TOKEN": OPS_TOKEN,
    }
    with serving(env, "--workers", "2") as (_, base):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(20):  # new connections: spread over both workers
                async with httpx.AsyncClient(base_url=base, timeout=30) as single:
                    assert (await single.get("/api/uploads", headers=alice)).status_code == 200
            text = (await client.get("/metrics", headers=OPS)).text
    assert value(text, "http_requests_total", route="/api/uploads", status="200") == 20
    pids = {s.labels["pid"] for s in samples(text) if s.name == "worker_resident_memory_bytes"}
    assert len(pids) == 2
