import pytest

from tests.example import booking_body
from tests.helpers import assert_error

pytestmark = pytest.mark.anyio


async def test_admin_list_needs_an_administrator(client, api, alice):
    assert_error(await client.get(f"{api}/admin/bookings", headers=alice), 403, "forbidden")
    assert_error(await client.get(f"{api}/admin/bookings"), 401, "unauthorized")


async def test_admin_lists_everyone_with_filters(client, api, alice, bob, admin):
    for headers, title, status in ((alice, "a", "pending"), (bob, "b", "confirmed")):
        body = booking_body(title=title, status=status)
        assert (await client.post(f"{api}/bookings", json=body, headers=headers)).status_code == 201
    everything = (await client.get(f"{api}/admin/bookings", headers=admin)).json()
    assert sorted(item["title"] for item in everything["items"]) == ["a", "b"]
    assert everything["pagination"]["total"] == 2
    confirmed = (await client.get(f"{api}/admin/bookings?status=confirmed", headers=admin)).json()
    assert [item["title"] for item in confirmed["items"]] == ["b"]
    later = await client.get(
        f"{api}/admin/bookings", params={"start_from": "2031-01-01T00:00:00Z"}, headers=admin
    )
    assert later.json()["pagination"]["total"] == 0


async def test_admin_filters_reject_naive_datetimes(client, api, admin):
    response = await client.get(
        f"{api}/admin/bookings", params={"start_from": "2030-01-01T00:00:00"}, headers=admin
    )
    assert_error(response, 422, "validation_error")


async def test_admin_pagination_bounds(client, api, admin, settings):
    url = f"{api}/admin/bookings?page_size={settings.max_page_size + 1}"
    assert_error(await client.get(url, headers=admin), 422, "validation_error")


async def test_venues_are_paginated_and_created_by_admins(client, api, alice, admin):
    body = {"name": "Main Hall", "address": "1 High Street", "capacity": 300}
    assert_error(await client.post(f"{api}/venues", json=body, headers=alice), 403, "forbidden")
    for index in range(3):
        created = await client.post(
            f"{api}/venues", json={**body, "name": f"Hall {index}"}, headers=admin
        )
        assert created.status_code == 201, created.text
    page = (await client.get(f"{api}/venues?page_size=2", headers=alice)).json()
    assert [venue["name"] for venue in page["items"]] == ["Hall 0", "Hall 1"]
    assert page["pagination"]["total"] == 3
    assert page["pagination"]["pages"] == 2


async def test_booking_at_a_venue(client, api, alice, admin):
    venue = (await client.post(f"{api}/venues", json={"name": "Room 1"}, headers=admin)).json()
    response = await client.post(
        f"{api}/bookings", json=booking_body(venue_id=venue["id"]), headers=alice
    )
    assert response.status_code == 201
    assert response.json()["venue_id"] == venue["id"]
