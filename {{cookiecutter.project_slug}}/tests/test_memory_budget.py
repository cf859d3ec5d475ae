"""Memory budgets and leak checks on the main routes.

These use the helpers of {{ cookiecutter.project_slug }}.memory.testing, the same ones a new
resource's tests copy: `with max_memory(kb=...)` around a request, and
`await assert_no_leak(...)` on a route called many times. The last tests
prove that the helpers catch a route that loads too much and one that leaks.
"""

import secrets

import pytest
from sqlalchemy import insert

from {{ cookiecutter.project_slug }}.accounts import USERS
from {{ cookiecutter.project_slug }}.memory.testing import (
    assert_no_leak,
    drain,
    max_memory,
)
from {{ cookiecutter.project_slug }}.models import utcnow

from tests.helpers import load_every_user

pytestmark = pytest.mark.anyio

# Bounds with room above what the routes use today (a page of 100 rows:
# ~0.4 MiB; an export: one batch of 1,000 rows in flight, ~6 MiB in NDJSON),
# so they fail on a change of kind, not on noise: a whole table in memory.
LIST_BUDGET_KB = 2 * 1024
EXPORT_BUDGET_KB = 12 * 1024
FEW_ROWS, MANY_ROWS = 1_000, 10_000
# Users are small rows (~1.4 KiB each once loaded): three times as many for a
# whole table that is clearly above the bound.
MANY_USERS = 3 * MANY_ROWS


async def add_users(app, count: int) -> None:
    """`count` more users, written in one statement."""
    batch, now = secrets.token_hex(4), utcnow()
    rows = [
        {
            "email": f"{batch}.{n}@example.org",
            "is_admin": False,
            "is_active": True,
            "created_at": now,
        }
        for n in range(count)
    ]
    async with app.state.engine.begin() as conn:
        await conn.execute(insert(USERS), rows)


async def test_a_list_page_stays_within_its_budget(app, client, api, admin, settings):
    await add_users(app, FEW_ROWS)
    await assert_page_within_budget(client, f"{api}/admin/users", admin, settings)


async def assert_page_within_budget(client, url: str, headers, settings) -> None:
    """A full page of `url` (at most 100 rows) allocates at most LIST_BUDGET_KB."""
    size = min(100, settings.max_page_size)
    url = f"{url}?page_size={size}"
    await client.get(url, headers=headers)  # warm-up: imports, compiled statements
    with max_memory(kb=LIST_BUDGET_KB) as use:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200 and len(response.json()["items"]) == size
    assert use.peak_kb > 0


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/health", "/users/me", "/admin/users", "/uploads"])
async def test_main_routes_do_not_leak(unlimited_app, api, path):
    app, admin = unlimited_app
    await add_users(app, 200)
    url = f"{api}{path}"
    assert (await drain(app, url, admin))[0] == 200
    await assert_no_leak(lambda: drain(app, url, admin))


@pytest.mark.slow
async def test_max_memory_catches_a_route_that_loads_everything(app, client, api, admin):
    app.router.add_api_route(f"{api}/everything", load_every_user)
    await add_users(app, MANY_USERS)
    with pytest.raises(AssertionError, match="peaked at"), max_memory(kb=EXPORT_BUDGET_KB):
        response = await client.get(f"{api}/everything", headers=admin)
        assert response.json() == {"count": MANY_USERS + 1}  # and the administrator


async def test_assert_no_leak_catches_a_route_that_keeps_what_it_allocated(app, api, admin):
    kept: list[bytearray] = []

    async def leaky() -> dict[str, int]:
        kept.append(bytearray(200))  # a small object per request, never released
        return {"kept": len(kept)}

    app.router.add_api_route(f"{api}/leaky", leaky)
    with pytest.raises(AssertionError, match="bytes per call"):
        await assert_no_leak(lambda: drain(app, f"{api}/leaky", admin))
    assert len(kept) > 300
