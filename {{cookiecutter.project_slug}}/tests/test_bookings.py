import asyncio
import signal
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from {{ cookiecutter.project_slug }}.resources.bookings import BookingItem

from tests.conftest import client_for
from tests.example import booking_body, create_booking
from tests.helpers import assert_error, bearer, clear_of_a_window_edge, reader_that_stops, serving
from tests.test_server import MODES, _cli

pytestmark = pytest.mark.anyio


async def test_requires_a_bearer_token(client, api):
    error = assert_error(await client.get(f"{api}/bookings"), 401, "unauthorized")
    assert "token" in error["message"]
    bad = {"Authorization": "Bearer not-a-real-token"}
    assert_error(await client.get(f"{api}/bookings", headers=bad), 401, "unauthorized")


async def test_create_and_read_with_items(client, api, alice):
    items = [{"name": "Projector", "quantity": 2, "unit_price": "12.50"}]
    created = await create_booking(client, api, alice, notes="bring slides", items=items)
    assert created["booking_reference"].startswith("BK-")
    assert created["status"] == "pending"
    read = await client.get(f"{api}/bookings/{created['id']}", headers=alice)
    assert read.status_code == 200
    body = read.json()
    assert body["notes"] == "bring slides"
    assert [(i["name"], i["quantity"], i["unit_price"]) for i in body["items"]] == [
        ("Projector", 2, "12.50")
    ]
    assert body["start_datetime"] == "2030-05-01T09:00:00Z"


async def test_list_envelope_order_and_pages(client, api, alice):
    for hour in range(5):
        await create_booking(client, api, alice, title=f"b{hour}", hours_from_base=hour)
    response = await client.get(f"{api}/bookings?page=1&page_size=2", headers=alice)
    assert response.status_code == 200
    body = response.json()
    pagination = body["pagination"]
    assert {key: pagination[key] for key in ("page", "page_size", "total", "pages")} == {
        "page": 1,
        "page_size": 2,
        "total": 5,
        "pages": 3,
    }
    assert pagination["next_cursor"]
    # Newest start first.
    assert [item["title"] for item in body["items"]] == ["b4", "b3"]
    last = (await client.get(f"{api}/bookings?page=3&page_size=2", headers=alice)).json()
    assert [item["title"] for item in last["items"]] == ["b0"]
    assert last["pagination"]["next_cursor"] is None


async def test_list_returns_only_summary_columns(client, api, alice):
    await create_booking(client, api, alice, notes="long private notes")
    item = (await client.get(f"{api}/bookings", headers=alice)).json()["items"][0]
    assert set(item) == {
        "id",
        "booking_reference",
        "title",
        "status",
        "start_datetime",
        "end_datetime",
        "venue_id",
    }


async def test_default_page_size_comes_from_settings(client, api, alice, settings):
    body = (await client.get(f"{api}/bookings", headers=alice)).json()
    assert body["pagination"]["page_size"] == settings.default_page_size


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "page_size=0", "page_size=101", "page=x", "status=unknown"]
)
async def test_bad_page_parameters_are_422(client, api, alice, query, settings):
    if query == "page_size=101":
        query = f"page_size={settings.max_page_size + 1}"
    error = assert_error(
        await client.get(f"{api}/bookings?{query}", headers=alice), 422, "validation_error"
    )
    assert error["details"][0]["loc"][0] == "query"


async def test_max_page_size_is_allowed(client, api, alice, settings):
    response = await client.get(f"{api}/bookings?page_size={settings.max_page_size}", headers=alice)
    assert response.status_code == 200


async def test_status_filter(client, api, alice):
    await create_booking(client, api, alice, title="kept", status="confirmed")
    await create_booking(client, api, alice, title="other", status="cancelled")
    body = (await client.get(f"{api}/bookings?status=confirmed", headers=alice)).json()
    assert [item["title"] for item in body["items"]] == ["kept"]
    assert body["pagination"]["total"] == 1


async def test_users_see_only_their_own_bookings(client, api, alice, bob):
    mine = await create_booking(client, api, alice, title="alice's")
    await create_booking(client, api, bob, title="bob's")
    listed = (await client.get(f"{api}/bookings", headers=alice)).json()
    assert [item["title"] for item in listed["items"]] == ["alice's"]
    url = f"{api}/bookings/{mine['id']}"
    assert_error(await client.get(url, headers=bob), 404, "not_found")
    assert_error(await client.patch(url, json={"title": "x"}, headers=bob), 404, "not_found")
    assert_error(await client.delete(url, headers=bob), 404, "not_found")
    still = await client.get(url, headers=alice)
    assert still.json()["title"] == "alice's"


async def test_admin_may_read_any_booking(client, api, alice, admin):
    booking = await create_booking(client, api, alice)
    response = await client.get(f"{api}/bookings/{booking['id']}", headers=admin)
    assert response.status_code == 200


async def test_update_changes_only_sent_fields(client, api, alice):
    booking = await create_booking(client, api, alice, notes="keep me")
    url = f"{api}/bookings/{booking['id']}"
    response = await client.patch(url, json={"status": "confirmed"}, headers=alice)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["notes"], body["title"]) == (
        "confirmed",
        "keep me",
        "Quarterly review",
    )
    assert body["updated_at"] >= booking["updated_at"]


async def test_update_rejects_nulls_and_inverted_times(client, api, alice):
    booking = await create_booking(client, api, alice)
    url = f"{api}/bookings/{booking['id']}"
    assert_error(
        await client.patch(url, json={"title": None}, headers=alice), 422, "validation_error"
    )
    earlier = (datetime(2030, 5, 1, 8, 0, tzinfo=UTC)).isoformat()
    assert_error(
        await client.patch(url, json={"end_datetime": earlier}, headers=alice),
        422,
        "validation_error",
    )
    unchanged = (await client.get(url, headers=alice)).json()
    assert unchanged["end_datetime"] == "2030-05-01T10:00:00Z"


async def test_delete_removes_booking_and_items(client, api, alice, app):
    items = [{"name": "Chair", "quantity": 10, "unit_price": "1.00"}]
    booking = await create_booking(client, api, alice, items=items)
    url = f"{api}/bookings/{booking['id']}"
    assert (await client.delete(url, headers=alice)).status_code == 204
    assert_error(await client.get(url, headers=alice), 404, "not_found")
    async with app.state.sessionmaker() as session:
        left = await session.scalars(
            select(BookingItem).where(BookingItem.booking_id == booking["id"])
        )
        assert list(left) == []


@pytest.mark.parametrize(
    "change",
    [
        {"start_datetime": "2030-05-01T09:00:00"},  # no time zone
        {"end_datetime": "2030-05-01T08:00:00Z"},  # ends before it starts
        {"title": ""},
        {"status": "archived"},
        {"items": [{"name": "x", "quantity": 0, "unit_price": "1"}]},
    ],
)
async def test_create_validation(client, api, alice, change):
    response = await client.post(f"{api}/bookings", json=booking_body(**change), headers=alice)
    assert_error(response, 422, "validation_error")


async def test_create_with_unknown_venue_is_409(client, api, alice):
    response = await client.post(
        f"{api}/bookings", json=booking_body(venue_id=999_999), headers=alice
    )
    error = assert_error(response, 409, "conflict")
    assert "venue" in error["message"]


async def test_malformed_json_is_422(client, api, alice):
    response = await client.post(
        f"{api}/bookings",
        content=b"{not json",
        headers={**alice, "Content-Type": "application/json"},
    )
    assert_error(response, 422, "validation_error")


async def test_today_lists_only_bookings_starting_today(client, api, alice):
    now = datetime.now(UTC)
    today = now.replace(hour=12, minute=0, second=0, microsecond=0)
    for title, start in (("today", today), ("tomorrow", today + timedelta(days=1))):
        body = {
            "title": title,
            "start_datetime": start.isoformat(),
            "end_datetime": (start + timedelta(hours=1)).isoformat(),
        }
        assert (await client.post(f"{api}/bookings", json=body, headers=alice)).status_code == 201
    page = (await client.get(f"{api}/bookings/today?page_size=10", headers=alice)).json()
    assert [item["title"] for item in page["items"]] == ["today"]
    assert page["pagination"]["total"] == 1


# What the generic tests check with uploads and users, here of the example.


async def test_exports_have_their_own_stricter_limit(app_with, api):
    async with app_with(rate_limit_default="1000/minute") as app, client_for(app) as client:
        alice = await bearer(app, "a@example.org")
        url = f"{api}/bookings/export?format=ndjson"
        await asyncio.sleep(clear_of_a_window_edge(margin=15))
        statuses = [(await client.get(url, headers=alice)).status_code for _ in range(11)]
        listed = await client.get(f"{api}/bookings", headers=alice)
    assert statuses == [200] * 10 + [429]
    assert listed.status_code == 200


async def test_openapi_lists_the_example_routes(client, api):
    response = await client.get(f"{api}/openapi.json")
    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert {
        f"{api}/bookings",
        f"{api}/bookings/export",
        f"{api}/bookings/" + "{booking_id}",
        f"{api}/admin/bookings",
        f"{api}/admin/bookings/export",
        f"{api}/venues",
    } <= paths


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_sigterm_ends_a_stalled_export_within_the_grace_time(tmp_path, mode):
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'export.db'}",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "SHUTDOWN_GRACE_SECONDS": "2",
        "RATE_LIMIT_ENABLED": "false",
    }
    _cli(env, "migrate")
    _cli(env, "seed", "--users", "3", "--bookings", "30000", "--venues", "2")
    token = _cli(env, "create-user", "ops@example.org", "--admin").strip().splitlines()[-1]
    head = (
        b"GET /api/admin/bookings/export?format=ndjson HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n\r\n"
    )
    with serving(env, *mode) as (process, base), reader_that_stops(base, head):
        # The stream waits for the reader; without a grace time, so would SIGTERM.
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
