"""Memory budgets and leak checks on the main routes.

These use the helpers of {{ cookiecutter.project_slug }}.memory.testing, the same ones a new
resource's tests copy: `with max_memory(kb=...)` around a request, and
`await assert_no_leak(...)` on a route called many times. The last tests
prove that the helpers catch a route that loads too much and one that leaks.
"""

import pytest

from {{ cookiecutter.project_slug }}.memory.testing import (
    assert_no_leak,
    drain,
    max_memory,
)
from {{ cookiecutter.project_slug }}.seed import seed
from {{ cookiecutter.project_slug }}.users import create_user

from tests.example import load_every_booking

pytestmark = pytest.mark.anyio

# Bounds with room above what the routes use today (a page of 100 rows:
# ~0.4 MiB; an export: one batch of 1,000 rows in flight, ~6 MiB in NDJSON),
# so they fail on a change of kind, not on noise.
LIST_BUDGET_KB = 2 * 1024
EXPORT_BUDGET_KB = 12 * 1024
FEW_ROWS, MANY_ROWS = 1_000, 10_000


async def test_a_list_page_stays_within_its_budget(app, client, api, admin, settings):
    await seed(app.state.engine, users=5, bookings=FEW_ROWS, venues=3)
    size = min(100, settings.max_page_size)
    url = f"{api}/admin/bookings?page_size={size}"
    await client.get(url, headers=admin)  # warm-up: imports, compiled statements
    with max_memory(kb=LIST_BUDGET_KB) as use:
        response = await client.get(url, headers=admin)
    assert response.status_code == 200 and len(response.json()["items"]) == size
    assert use.peak_kb > 0


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
async def test_an_export_stays_within_one_budget_whatever_the_row_count(app, api, admin, fmt):
    url = f"{api}/admin/bookings/export?format={fmt}"
    await seed(app.state.engine, users=5, bookings=FEW_ROWS, venues=3)
    await drain(app, url, admin)  # warm-up
    with max_memory(kb=EXPORT_BUDGET_KB):
        _, few_bytes = await drain(app, url, admin)
    await seed(app.state.engine, users=5, bookings=MANY_ROWS, venues=3)
    with max_memory(kb=EXPORT_BUDGET_KB):
        status, many_bytes = await drain(app, url, admin)
    assert status == 200
    assert many_bytes > 9 * few_bytes  # ten times the rows went through the same budget


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    ["/health", "/bookings", "/bookings/today", "/admin/bookings", "/venues", "/uploads"],
)
async def test_main_routes_do_not_leak(unlimited_app, api, path):
    app, admin = unlimited_app
    await seed(app.state.engine, users=5, bookings=200, venues=3)
    url = f"{api}{path}"
    assert (await drain(app, url, admin))[0] == 200
    await assert_no_leak(lambda: drain(app, url, admin))


@pytest.mark.slow
async def test_exports_do_not_leak(unlimited_app, api):
    app, admin = unlimited_app
    await seed(app.state.engine, users=5, bookings=200, venues=3)
    url = f"{api}/admin/bookings/export?format=ndjson"
    await assert_no_leak(lambda: drain(app, url, admin))


@pytest.fixture
async def unlimited_app(app_with):
    """The app without rate limits (hundreds of calls) and an admin's headers.
    The memory probe is paused: its samples pile up with time, not with calls,
    and on a slow machine would read as growth per call."""
    async with app_with(rate_limit_enabled=False, memory_sample_interval_ms=3_600_000) as app:
        token = await create_user(app.state.engine, "leaks@example.org", is_admin=True)
        yield app, {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
async def test_max_memory_catches_a_route_that_loads_everything(app, client, api, admin):
    app.router.add_api_route(f"{api}/everything", load_every_booking)
    await seed(app.state.engine, users=5, bookings=MANY_ROWS, venues=3)
    with pytest.raises(AssertionError, match="peaked at"), max_memory(kb=EXPORT_BUDGET_KB):
        response = await client.get(f"{api}/everything", headers=admin)
        assert response.json() == {"count": MANY_ROWS}


async def test_assert_no_leak_catches_a_route_that_keeps_what_it_allocated(app, api, admin):
    kept: list[bytearray] = []

    async def leaky() -> dict[str, int]:
        kept.append(bytearray(200))  # a small object per request, never released
        return {"kept": len(kept)}

    app.router.add_api_route(f"{api}/leaky", leaky)
    with pytest.raises(AssertionError, match="bytes per call"):
        await assert_no_leak(lambda: drain(app, f"{api}/leaky", admin))
    assert len(kept) > 300
