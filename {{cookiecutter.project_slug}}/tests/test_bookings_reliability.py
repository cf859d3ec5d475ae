"""Hostile input and races on the example resources: each is a 4xx with the
JSON error, never a 500, and nothing changes or stays behind."""

from typing import Any

import pytest

from {{ cookiecutter.project_slug }}.resources.bookings import Booking

from tests.example import booking_body, create_booking
from tests.helpers import assert_error, deleting_before_flush

pytestmark = pytest.mark.anyio
NUL = "a\x00b"
# Valid ISO 8601, but before year 1 or after 9999 once converted to UTC.
OVERFLOWING = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:30:00-05:00"]


def _field_of(error: dict[str, Any]) -> str:
    field: str = error["details"][0]["loc"][-1]
    return field


async def test_text_the_database_cannot_store_is_a_422_naming_the_field(client, api, alice, admin):
    bodies = [
        ("title", booking_body(title=NUL)),
        ("notes", booking_body(notes=NUL)),
        ("name", booking_body(items=[{"name": NUL, "quantity": 1, "unit_price": "1"}])),
    ]
    for field, body in bodies:
        response = await client.post(f"{api}/bookings", json=body, headers=alice)
        assert _field_of(assert_error(response, 422, "validation_error")) == field
    created = await create_booking(client, api, alice)
    url = f"{api}/bookings/{created['id']}"
    for field in ("title", "notes"):
        response = await client.patch(url, json={field: NUL}, headers=alice)
        assert _field_of(assert_error(response, 422, "validation_error")) == field
    for field in ("name", "address"):
        body = {"name": "Hall", field: NUL}
        response = await client.post(f"{api}/venues", json=body, headers=admin)
        assert _field_of(assert_error(response, 422, "validation_error")) == field
    assert (await client.get(url, headers=alice)).json() == created


@pytest.mark.parametrize("value", OVERFLOWING)
async def test_datetimes_that_overflow_in_utc_are_a_422(client, api, alice, admin, value):
    response = await client.post(
        f"{api}/bookings",
        json={**booking_body(), "start_datetime": value, "end_datetime": value},
        headers=alice,
    )
    assert assert_error(response, 422, "validation_error")
    created = await create_booking(client, api, alice)
    url = f"{api}/bookings/{created['id']}"
    response = await client.patch(url, json={"start_datetime": value}, headers=alice)
    assert _field_of(assert_error(response, 422, "validation_error")) == "start_datetime"
    for path in ("/admin/bookings", "/admin/bookings/export"):
        for name in ("start_from", "start_before"):
            response = await client.get(f"{api}{path}", params={name: value}, headers=admin)
            # An export validates everything before its first byte: a 422, not a cut stream.
            assert _field_of(assert_error(response, 422, "validation_error")) == name
    assert (await client.get(url, headers=alice)).json() == created


@pytest.fixture
def deleted_before_flush(app):
    """The next flush first deletes the booking it writes."""
    with deleting_before_flush(Booking):
        yield


async def test_an_update_racing_a_delete_is_a_404(client, api, alice, deleted_before_flush):
    created = await create_booking(client, api, alice)
    url = f"{api}/bookings/{created['id']}"
    response = await client.patch(url, json={"title": "Moved"}, headers=alice)
    assert_error(response, 404, "not_found")


# SQLAlchemy warns that the DELETE matched no row: expected here.
@pytest.mark.filterwarnings("ignore:DELETE statement on table")
async def test_a_delete_racing_a_delete_succeeds_once_the_row_is_gone(
    client, api, alice, deleted_before_flush
):
    # DELETE is idempotent: the row is gone either way, so both get 204.
    created = await create_booking(client, api, alice)
    url = f"{api}/bookings/{created['id']}"
    assert (await client.delete(url, headers=alice)).status_code == 204
    assert_error(await client.get(url, headers=alice), 404, "not_found")


async def test_a_cursor_ignores_query_parameters_the_route_does_not_read(client, api, alice):
    for hour in range(3):
        await create_booking(client, api, alice, hours_from_base=hour)
    params = {"page_size": 1, "status": "pending"}
    first = (await client.get(f"{api}/bookings", params=params, headers=alice)).json()
    cursor = first["pagination"]["next_cursor"]
    # A cache buster added by a client or a proxy: the rows are the same.
    params = {**params, "cursor": cursor, "_": "1732960000"}
    response = await client.get(f"{api}/bookings", params=params, headers=alice)
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["id"] != first["items"][0]["id"]
    # A filter the route reads still binds the cursor to its query.
    params = {**params, "status": "confirmed"}
    response = await client.get(f"{api}/bookings", params=params, headers=alice)
    assert_error(response, 400, "invalid_cursor")


async def test_an_id_is_never_handed_out_twice(client, api, alice):
    # Without AUTOINCREMENT, SQLite gives the next row the largest id plus
    # one: the deleted newest booking's id would name a new booking.
    newest = await create_booking(client, api, alice)
    assert (await client.delete(f"{api}/bookings/{newest['id']}", headers=alice)).status_code == 204
    created = await create_booking(client, api, alice)
    assert created["id"] > newest["id"]
