"""Keyset pages, signed cursors and the sort allow-list, on every list endpoint."""

import base64
from typing import Any

import pytest

from tests.example import booking_body
from tests.helpers import assert_error

pytestmark = pytest.mark.anyio


async def _seed_bookings(client, api, headers, count: int, same_start: bool = False) -> None:
    for index in range(count):
        hours = 0 if same_start else index
        body = booking_body(title=f"b{index:02d}", hours_from_base=hours)
        assert (await client.post(f"{api}/bookings", json=body, headers=headers)).status_code == 201


async def _walk(
    client, url: str, headers: dict[str, str], **params
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow next_cursor from the first page to the end; return items and pages."""
    pages = [(await client.get(url, params=params, headers=headers)).json()]
    while cursor := pages[-1]["pagination"]["next_cursor"]:
        response = await client.get(url, params={**params, "cursor": cursor}, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        assert len(pages) < 100
    return [item for page in pages for item in page["items"]], [p["pagination"] for p in pages]


@pytest.mark.parametrize("same_start", [False, True], ids=["distinct", "ties"])
async def test_keyset_walk_matches_offset_order(client, api, alice, same_start):
    await _seed_bookings(client, api, alice, 11, same_start=same_start)
    keyset_items, infos = await _walk(client, f"{api}/bookings", alice, page_size=3)
    offset_items = []
    for page in range(1, 5):
        response = await client.get(f"{api}/bookings?page={page}&page_size=3", headers=alice)
        offset_items += response.json()["items"]
    assert [item["id"] for item in keyset_items] == [item["id"] for item in offset_items]
    assert len({item["id"] for item in keyset_items}) == 11  # no overlap, nothing skipped
    # Keyset pages do not count unless asked to.
    assert all(info["total"] is None and info["page"] is None for info in infos[1:])
    assert infos[-1]["next_cursor"] is None


async def test_with_total_counts_in_keyset_mode(client, api, alice):
    await _seed_bookings(client, api, alice, 4)
    first = (await client.get(f"{api}/bookings?page_size=2", headers=alice)).json()
    cursor = first["pagination"]["next_cursor"]
    second = await client.get(
        f"{api}/bookings",
        params={"page_size": 2, "cursor": cursor, "with_total": "true"},
        headers=alice,
    )
    assert second.json()["pagination"]["total"] == 4
    assert second.json()["pagination"]["pages"] == 2
    uncounted = (await client.get(f"{api}/bookings?with_total=false", headers=alice)).json()
    assert (uncounted["pagination"]["total"], uncounted["pagination"]["pages"]) == (None, None)
    assert uncounted["pagination"]["page"] == 1 and len(uncounted["items"]) == 4


async def test_sort_allow_list(client, api, alice):
    await _seed_bookings(client, api, alice, 3)
    oldest = await client.get(f"{api}/bookings?sort=start_datetime", headers=alice)
    assert [item["title"] for item in oldest.json()["items"]] == ["b00", "b01", "b02"]
    for bad in ("notes", "id; DROP TABLE bookings", "start_datetime desc", "-user_id"):
        response = await client.get(f"{api}/bookings", params={"sort": bad}, headers=alice)
        assert_error(response, 422, "validation_error")
    # The table is still there.
    assert (await client.get(f"{api}/bookings", headers=alice)).json()["pagination"]["total"] == 3


def _tamper(cursor: str) -> str:
    payload, mac = cursor.split(".")
    values = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = values.replace(b'"2030', b'"2031')
    return base64.urlsafe_b64encode(forged).rstrip(b"=").decode() + "." + mac


async def test_bad_cursors_are_400(client, api, alice):
    await _seed_bookings(client, api, alice, 3)
    first = (await client.get(f"{api}/bookings?page_size=1", headers=alice)).json()
    cursor = first["pagination"]["next_cursor"]
    for bad in (
        _tamper(cursor),
        cursor[:-3],
        cursor.split(".")[0],
        "not-a-cursor",
        "....",
        "e30.AAAA",
        "%%%",
    ):
        response = await client.get(
            f"{api}/bookings", params={"cursor": bad, "page_size": 1}, headers=alice
        )
        error = assert_error(response, 400, "invalid_cursor")
        assert "cursor" in error["message"]
    # Same path, other filters: the cursor belongs to another query.
    other_query = {"cursor": cursor, "status": "confirmed"}
    foreign = await client.get(f"{api}/bookings", params=other_query, headers=alice)
    assert_error(foreign, 400, "invalid_cursor")
    other_endpoint = await client.get(f"{api}/venues", params={"cursor": cursor}, headers=alice)
    assert_error(other_endpoint, 400, "invalid_cursor")


async def test_cursor_from_another_secret_is_refused(client, api, alice, app):
    await _seed_bookings(client, api, alice, 2)
    first = (await client.get(f"{api}/bookings?page_size=1", headers=alice)).json()
    cursor = first["pagination"]["next_cursor"]
    # Same cursor, server restarted with another CURSOR_SECRET.
    from pydantic import SecretStr

    app.state.settings = app.state.settings.model_copy(update={"cursor_secret": SecretStr("other")})
    response = await client.get(f"{api}/bookings", params={"cursor": cursor}, headers=alice)
    assert_error(response, 400, "invalid_cursor")


async def test_admin_and_today_lists_walk_by_cursor(client, api, alice, admin):
    await _seed_bookings(client, api, alice, 5)
    items, _ = await _walk(client, f"{api}/admin/bookings", admin, page_size=2)
    assert len(items) == 5
    items, _ = await _walk(client, f"{api}/admin/bookings", admin, page_size=2, status="pending")
    assert len(items) == 5


async def test_venues_walk_by_cursor(client, api, alice, admin):
    for name in ("Delta", "Alpha", "Charlie", "Bravo", "Echo"):
        response = await client.post(f"{api}/venues", json={"name": name}, headers=admin)
        assert response.status_code == 201
    items, _ = await _walk(client, f"{api}/venues", alice, page_size=2)
    assert [venue["name"] for venue in items] == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
