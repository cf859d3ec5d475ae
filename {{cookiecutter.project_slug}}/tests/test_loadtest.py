"""`loadtest`: its mix comes from the router registry and runs clean against
the app, 429s are counted apart, a failed metric fails the command; and
under gunicorn, workers recycled every few hundred requests lose none."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from {{ cookiecutter.project_slug }}.__main__ import _parser
from {{ cookiecutter.project_slug }}.loadtest import drive, mix, report
from {{ cookiecutter.project_slug }}.loadtest.stats import Stats
from {{ cookiecutter.project_slug }}.routing import RESOURCE_ROUTERS

from tests.helpers import bearer, serving

pytestmark = pytest.mark.anyio


def _args(*options: str):
    return _parser().parse_args(["loadtest", "http://test", "--seed", "1", *options])


def test_the_mix_is_the_registry_less_the_account_routes():
    prefixes = {resource.prefix for resource in mix.discover()}
    registered = {entry.prefix for entry in RESOURCE_ROUTERS}
    assert prefixes == {p for p in registered if not p.startswith(("/auth", "/users"))}


def test_bodies_from_the_schemas_are_valid_for_every_writable_resource():
    rng = random.Random(1)
    for resource in mix.discover():
        if resource.create is None:
            continue
        body = mix.sample(resource.create, rng)
        resource.create.model_validate(body)
        if resource.update is not None:
            resource.update.model_validate(
                {k: v for k, v in body.items() if k in resource.update.model_fields}
            )


async def test_a_load_on_the_app_meets_every_metric(app, settings):
    tokens = [
        (await bearer(app, f"load-{n}@example.org", admin=n == 0))["Authorization"][7:]
        for n in range(4)
    ]
    args = _args("--users", "4", "--rate", "0", "--requests", "400")
    results = await drive(settings, args, tokens=tokens, transport=httpx.ASGITransport(app=app))
    figures = results["figures"]
    assert figures["failures"] == {} and figures["requests"] >= 400
    assert figures["memory"]["workers"], figures["memory"]
    assert [v["verdict"] for v in results["verdicts"]] == ["PASS"] * 4
    # Every route the mix holds was called: lists, and each resource's writes.
    for resource in mix.discover():
        for path in resource.lists:
            assert f"GET {path}" in figures["by_route"]
        if resource.create is not None and not resource.admin:
            for method in ("POST", "PATCH", "DELETE"):
                assert any(route.startswith(method) for route in figures["by_route"]), method


def test_429s_are_counted_apart_and_named_as_the_bottleneck():
    stats = Stats()
    for status in [200] * 90 + [429] * 10:
        stats.answered("GET /things", status, 0.01)
    assert stats.success_percent() == 100.0
    figures = {"rate_limited": stats.limited, "requests": stats.requests}
    assert "rate limiter" in (report.limiter_note(figures) or "")
    stats.answered("GET /things", 500, 0.01)
    assert stats.success_percent() < 99.9


def test_one_metric_over_its_threshold_fails_the_run():
    figures = {
        "success_percent": 100.0,
        "latency_ms": {"p50": 1.0, "p95": 2500.0, "p99": 3000.0},
        "memory": {"average_mib": 90.0, "memory_errors": 0},
    }
    results = {"verdicts": report.verdicts(figures, report.Thresholds())}
    assert [v["verdict"] for v in results["verdicts"]] == ["PASS", "FAIL", "PASS", "PASS"]
    assert report.failed(results)


def _loadtest(env: dict[str, str], *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "{{ cookiecutter.project_slug }}", "loadtest"]
    done = subprocess.run(
        [*command, *args, "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results: dict[str, Any] = json.loads(done.stdout)
    return results


@pytest.mark.slow
def test_the_command_against_a_server_passes_with_the_default_limits(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "UPLOAD_DIR": str(tmp_path / "uploads")}
    with serving(env) as (_process, base):
        results = _loadtest(env, base, "--users", "10", "--duration", "5")
    figures = results["figures"]
    assert figures["failures"] == {} and figures["rate_limited"] == 0
    assert len(figures["memory"]["workers"]) == 1


@pytest.mark.slow
def test_workers_recycled_every_few_hundred_requests_fail_none(database_url, tmp_path):
    log = tmp_path / "server.log"
    env = {
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "RATE_LIMIT_ENABLED": "false",
        # gunicorn_conf.py's max_requests (10,000), made small enough to see.
        "GUNICORN_CMD_ARGS": "--max-requests 150 --max-requests-jitter 30",
    }
    with serving(env, "--workers", "2", output=log) as (_process, base):
        results = _loadtest(
            env, base, "--users", "8", "--rate", "0", "--requests", "1500", "--duration", "600"
        )
    booted = Path(log).read_text().count("Booting worker")
    assert booted - 2 >= 5, f"{booted - 2} recycles"
    figures = results["figures"]
    assert figures["failures"] == {} and figures["no_answer"] == 0, figures
