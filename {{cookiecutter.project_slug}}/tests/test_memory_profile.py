"""MEMORY_PROFILE=true: a peak header on every response, a log of the top
allocation sites of heavy requests, and a refusal in production."""

import asyncio
import logging
import tracemalloc
from typing import Any

import pytest

from {{ cookiecutter.project_slug }}.memory.profile import HEADER
from {{ cookiecutter.project_slug }}.models import User
from {{ cookiecutter.project_slug }}.settings import SettingsError, load_settings

from tests.conftest import client_for
from tests.helpers import bearer, load_every_user

pytestmark = pytest.mark.anyio
LOGGER = "{{ cookiecutter.project_slug }}.memory.profile"


async def build_a_big_report() -> dict[str, Any]:
    rows = [{"n": n, "label": f"row {n}"} for n in range(20_000)]
    return {"count": len(rows)}


REPORT_LINE = build_a_big_report.__code__.co_firstlineno + 1


async def _add_users(app, count: int) -> None:
    async with app.state.sessionmaker() as session:
        session.add_all(User(email=f"user{n}@example.org") for n in range(count))
        await session.commit()


def _peak_kb(response) -> int:
    assert response.status_code == 200, response.text
    return int(response.headers[HEADER])


@pytest.mark.slow
async def test_responses_carry_their_peak_and_heavy_ones_are_logged(app_with, api, caplog):
    async with app_with(memory_profile=True, memory_profile_log_kb=2048) as app:
        app.router.add_api_route(f"{api}/everything", load_every_user)
        app.router.add_api_route(f"{api}/report", build_a_big_report)
        token_headers = await bearer(app, "profiler@example.org", admin=True)
        await _add_users(app, 4_999)  # and the profiler: 5,000
        async with client_for(app) as client:
            page = await client.get(f"{api}/admin/users?page_size=10", headers=token_headers)
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                heavy = await client.get(f"{api}/everything", headers=token_headers)
                report = await client.get(f"{api}/report")
            health = await client.get(f"{api}/health")
    assert heavy.json() == {"count": 5_000}
    assert 0 < _peak_kb(page) < 2048 < min(_peak_kb(heavy), _peak_kb(report))
    assert HEADER not in health.headers  # health checks are not traced
    heavy_log, report_log = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert f"GET {api}/everything peaked at" in heavy_log
    # Rows are built inside SQLAlchemy (in its greenlet, below no frame of
    # the route): the sites name the ORM's code.
    assert "sqlalchemy/orm/" in heavy_log
    # Memory the route's own code allocates is charged to the route's line.
    assert f"GET {api}/report peaked at" in report_log
    assert f"test_memory_profile.py:{REPORT_LINE}:" in report_log.splitlines()[1], report_log
    assert not tracemalloc.is_tracing()  # stopped after each request


async def test_light_requests_are_not_logged(app_with, api, caplog):
    async with app_with(memory_profile=True, memory_profile_log_kb=64 * 1024) as app:
        token_headers = await bearer(app, "profiler@example.org", admin=True)
        async with client_for(app) as client:
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                response = await client.get(f"{api}/uploads", headers=token_headers)
    assert _peak_kb(response) > 0
    assert not [r for r in caplog.records if r.name == LOGGER]


async def test_profiled_requests_are_traced_one_at_a_time(app_with, api):
    # tracemalloc counts the whole process: concurrent requests would be
    # charged for each other's allocations, so they wait for each other.
    async with app_with(memory_profile=True) as app:
        token_headers = await bearer(app, "profiler@example.org", admin=True)
        async with client_for(app) as client:
            responses = await asyncio.gather(
                *(client.get(f"{api}/uploads", headers=token_headers) for _ in range(5))
            )
    assert all(_peak_kb(response) > 0 for response in responses)


async def test_health_is_not_traced_but_paths_that_only_start_like_it_are(app_with, api):
    async with app_with(memory_profile=True) as app, client_for(app) as client:
        health = await client.get(f"{api}/health/ready")
        lookalike = await client.get(f"{api}/healthz")
    assert health.status_code == 200 and HEADER not in health.headers
    assert lookalike.status_code == 404 and HEADER in lookalike.headers


async def test_without_the_setting_nothing_is_traced(client, api, alice):
    response = await client.get(f"{api}/uploads", headers=alice)
    assert response.status_code == 200
    assert HEADER not in response.headers


def test_production_refuses_profiling_unless_forced():
    production = {"environment": "production", "cursor_secret": "shared", "_env_file": None}
    with pytest.raises(SettingsError) as refused:
        load_settings(memory_profile=True, **production)
    assert "MEMORY_PROFILE" in str(refused.value)
    assert "MEMORY_PROFILE_FORCE" in str(refused.value)
    forced = load_settings(memory_profile=True, memory_profile_force=True, **production)
    assert forced.memory_profile
    assert load_settings(memory_profile=True, environment="staging", _env_file=None).memory_profile
