"""Security boundaries of the example resources: owners' bookings,
administrators' booking and venue routes, filters that try to reach the SQL,
exported files."""

import pytest
from sqlalchemy import func, select

from {{ cookiecutter.project_slug }}.resources.bookings import Booking

from tests.example import create_booking
from tests.helpers import assert_error

pytestmark = pytest.mark.anyio


async def test_exports_and_uploads_hold_only_the_owners_rows(client, api, alice, bob):
    await create_booking(client, api, alice, title="alice's")
    upload = await client.post(
        f"{api}/uploads",
        content=b"alice's file",
        headers={**alice, "Content-Type": "text/plain", "X-Filename": "a.txt"},
    )
    assert upload.status_code == 201
    exported = await client.get(f"{api}/bookings/export?format=json", headers=bob)
    uploads = await client.get(f"{api}/uploads", headers=bob)
    assert exported.json() == {"items": []}
    assert uploads.json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/bookings"),
        ("GET", "/admin/bookings/export"),
        ("POST", "/venues"),
    ],
)
async def test_admin_routes_are_403_for_users(client, api, alice, method, path):
    response = await client.request(method, f"{api}{path}", headers=alice, json={"name": "x"})
    assert_error(response, 403, "forbidden")


@pytest.mark.parametrize(
    "query",
    [
        "sort=start_datetime;DROP TABLE bookings",
        "sort=title",
        "sort=(SELECT 1)",
        "status=confirmed' OR '1'='1",
        "user_id=1 OR 1=1",
        "venue_id=1;DELETE FROM bookings",
        "start_from=2030-01-01T00:00:00Z' OR 'x'='x",
        "cursor=' OR 1=1 --",
        "page_size=10;DROP TABLE users",
    ],
)
async def test_parameters_never_reach_the_sql(client, api, admin, app, query):
    await create_booking(client, api, admin, title="still here")
    response = await client.get(f"{api}/admin/bookings?{query}", headers=admin)
    assert response.status_code in (400, 422), response.text
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 1


async def test_text_is_stored_as_text(client, api, alice):
    title = "'); DROP TABLE bookings; --"
    created = await create_booking(client, api, alice, title=title)
    read = await client.get(f"{api}/bookings/{created['id']}", headers=alice)
    assert read.json()["title"] == title


async def test_served_files_are_attachments(client, api, alice):
    # nosniff comes from the server, once, on every response (test_server.py).
    for fmt in ("json", "ndjson", "csv"):
        response = await client.get(f"{api}/bookings/export?format={fmt}", headers=alice)
        assert response.headers["content-disposition"].startswith("attachment;")
