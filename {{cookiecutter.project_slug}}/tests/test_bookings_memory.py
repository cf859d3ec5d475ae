"""Memory and streaming of the example's exports: flat in the number of
bookings, within one budget, without leaks, and a client leaving mid-export
gives its connection back. Seeds many bookings: minutes."""

import logging
from pathlib import Path

import httpx
import pytest

from {{ cookiecutter.project_slug }}.memory import testing
from {{ cookiecutter.project_slug }}.seed import seed
from {{ cookiecutter.project_slug }}.users import create_user

from tests.example import load_every_booking
from tests.test_memory import MB, read_through, running_service
from tests.test_memory_budget import (
    EXPORT_BUDGET_KB,
    FEW_ROWS,
    MANY_ROWS,
    assert_page_within_budget,
)
from tests.test_streaming import _wait_for, partly_read, serving

pytestmark = pytest.mark.anyio
# Allowed growth of the peak between a small and a ten-times-larger request:
# a buffered export of 200,000 rows needs ~100 MB, a streamed one a few.
SMALL_CONSTANT = 12 * MB
proc = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")


async def _export(client: httpx.AsyncClient, fmt: str, headers: dict[str, str]) -> int:
    """Stream an export, discarding it; return the bytes received."""
    return await read_through(client, f"/api/admin/bookings/export?format={fmt}", headers)


@proc
@pytest.mark.slow
async def test_export_peak_is_flat_in_row_count(app, database_url, tmp_path):
    token = await create_user(app.state.engine, "memory@example.org", is_admin=True)
    headers = {"Authorization": f"Bearer {token}"}
    await seed(app.state.engine, users=50, bookings=20_000, venues=10)
    formats = ("ndjson", "json", "csv")
    with running_service(database_url, tmp_path / "uploads") as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=300) as client:
            for fmt in formats:  # warm up: first use imports and caches
                await _export(client, fmt, headers)
            small = {
                fmt: await server.peak_growth(lambda f=fmt: _export(client, f, headers))
                for fmt in formats
            }
            await seed(app.state.engine, users=50, bookings=200_000, venues=10)
            large = {
                fmt: await server.peak_growth(lambda f=fmt: _export(client, f, headers))
                for fmt in formats
            }
    for fmt in formats:
        (small_growth, small_bytes), (large_growth, large_bytes) = small[fmt], large[fmt]
        assert large_bytes > 9 * small_bytes  # ten times the rows really went out
        assert large_growth <= small_growth + SMALL_CONSTANT, (fmt, small_growth, large_growth)


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
async def test_client_leaving_mid_export_returns_the_connection(app, make_user, api, caplog, fmt):
    headers = await make_user("streamer@example.org", admin=True)
    await seed(app.state.engine, users=5, bookings=20_000, venues=3)
    pool = app.state.engine.pool
    caplog.set_level(logging.INFO)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        url = f"{api}/admin/bookings/export?format={fmt}"
        async with partly_read(client, url, headers):
            # Mid-stream: only the export's own connection is out; the one that
            # authenticated the request went back when the route returned.
            assert pool.checkedout() == 1
        # Leaving the block closes the connection mid-export.
        assert await _wait_for(lambda: pool.checkedout() == 0), pool.status()
        assert await _wait_for(lambda: app.state.export_slots.in_use == 0)
    assert any("export stopped early" in record.getMessage() for record in caplog.records)


async def test_complete_export_through_a_real_server(app, make_user, api):
    headers = await make_user("complete@example.org", admin=True)
    await seed(app.state.engine, users=3, bookings=3_000, venues=2)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
        response = await client.get(f"{api}/admin/bookings/export?format=ndjson", headers=headers)
    assert response.status_code == 200
    assert len(response.text.splitlines()) == 3_000
    assert app.state.engine.pool.checkedout() == 0


async def test_a_list_page_stays_within_its_budget(app, client, api, admin, settings):
    await seed(app.state.engine, users=5, bookings=FEW_ROWS, venues=3)
    await assert_page_within_budget(client, f"{api}/admin/bookings", admin, settings)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
async def test_an_export_stays_within_one_budget_whatever_the_row_count(app, api, admin, fmt):
    url = f"{api}/admin/bookings/export?format={fmt}"
    await seed(app.state.engine, users=5, bookings=FEW_ROWS, venues=3)
    await testing.drain(app, url, admin)  # warm-up
    with testing.max_memory(kb=EXPORT_BUDGET_KB):
        _, few_bytes = await testing.drain(app, url, admin)
    await seed(app.state.engine, users=5, bookings=MANY_ROWS, venues=3)
    with testing.max_memory(kb=EXPORT_BUDGET_KB):
        status, many_bytes = await testing.drain(app, url, admin)
    assert status == 200
    assert many_bytes > 9 * few_bytes  # ten times the rows went through the same budget


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    ["/bookings", "/bookings/today", "/admin/bookings", "/venues"],
)
async def test_main_routes_do_not_leak(unlimited_app, api, path):
    app, admin = unlimited_app
    await seed(app.state.engine, users=5, bookings=200, venues=3)
    url = f"{api}{path}"
    assert (await testing.drain(app, url, admin))[0] == 200
    await testing.assert_no_leak(lambda: testing.drain(app, url, admin))


@pytest.mark.slow
async def test_exports_do_not_leak(unlimited_app, api):
    app, admin = unlimited_app
    await seed(app.state.engine, users=5, bookings=200, venues=3)
    url = f"{api}/admin/bookings/export?format=ndjson"
    await testing.assert_no_leak(lambda: testing.drain(app, url, admin))


@pytest.mark.slow
async def test_max_memory_catches_a_route_that_loads_everything(app, client, api, admin):
    app.router.add_api_route(f"{api}/everything", load_every_booking)
    await seed(app.state.engine, users=5, bookings=MANY_ROWS, venues=3)
    with pytest.raises(AssertionError, match="peaked at"), testing.max_memory(kb=EXPORT_BUDGET_KB):
        response = await client.get(f"{api}/everything", headers=admin)
        assert response.json() == {"count": MANY_ROWS}
