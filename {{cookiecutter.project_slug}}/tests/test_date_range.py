"""The first and last instants the API takes: stored, read back, updated,
paged past by cursor and exported unchanged on every database (PostgreSQL
would turn Python's first and last datetime into -infinity and infinity);
one step outside is a 422 that states the range."""

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from {{ cookiecutter.project_slug }}.schema_types import EARLIEST, LATEST

from tests.helpers import assert_error

pytestmark = pytest.mark.anyio
STEP = timedelta(microseconds=1)
# Each booking's (start, end), at the edges of the range, to the microsecond.
EDGES = [(EARLIEST, EARLIEST + STEP), (LATEST - STEP, LATEST), (EARLIEST, LATEST)]
OUTSIDE = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T23:59:59.999999Z",
    "0001-01-02T00:00:00+00:01",
    "9999-12-31T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-30T23:59:59.999999-00:01",
]


def _bounds(row: dict[str, Any]) -> tuple[datetime, datetime]:
    return (
        datetime.fromisoformat(row["start_datetime"]),
        datetime.fromisoformat(row["end_datetime"]),
    )


async def _create(
    client: Any, api: str, headers: dict[str, str]
) -> dict[int, tuple[datetime, datetime]]:
    made = {}
    for start, end in EDGES:
        body = {
            "title": "Edge",
            "start_datetime": start.isoformat(),
            "end_datetime": end.isoformat(),
        }
        response = await client.post(f"{api}/bookings", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert _bounds(response.json()) == (start, end)
        made[response.json()["id"]] = (start, end)
    return made


async def _walk(client: Any, api: str, admin: dict[str, str], sort: str) -> list[int]:
    """Every booking's id, a page of one at a time, by cursor."""
    ids: list[int] = []
    params: dict[str, Any] = {"sort": sort, "page_size": 1, "with_total": "false"}
    while True:
        page = await client.get(f"{api}/admin/bookings", params=params, headers=admin)
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["pagination"]["next_cursor"]
        if cursor is None:
            return ids
        params = {"sort": sort, "page_size": 1, "cursor": cursor}


async def test_the_edges_of_the_range_round_trip(client, api, alice, admin):
    made = await _create(client, api, alice)
    for booking_id, bounds in made.items():
        url = f"{api}/bookings/{booking_id}"
        assert _bounds((await client.get(url, headers=alice)).json()) == bounds
        # The stored values are compared with the sent ones: aware on both sides.
        start = bounds[0].isoformat()
        patched = await client.patch(
            url,
            json={"title": "Moved", "start_datetime": start, "end_datetime": bounds[1].isoformat()},
            headers=alice,
        )
        assert patched.status_code == 200, patched.text
        assert _bounds(patched.json()) == bounds
    oldest = await _walk(client, api, admin, "start_datetime")
    assert [i for i in oldest if i in made] == sorted(made, key=lambda i: (made[i][0], i))
    newest = await _walk(client, api, admin, "-start_datetime")
    assert [i for i in newest if i in made] == [i for i in reversed(oldest) if i in made]
    export = await client.get(
        f"{api}/admin/bookings/export", params={"format": "ndjson"}, headers=admin
    )
    assert export.status_code == 200, export.text
    rows = [json.loads(line) for line in export.text.splitlines() if line]
    assert {row["id"]: _bounds(row) for row in rows if row["id"] in made} == made


@pytest.mark.parametrize("value", OUTSIDE)
async def test_a_datetime_outside_the_range_is_a_422_that_states_it(client, api, alice, value):
    body = {"title": "Edge", "start_datetime": value, "end_datetime": value}
    error = assert_error(
        await client.post(f"{api}/bookings", json=body, headers=alice), 422, "validation_error"
    )
    assert "0001-01-02T00:00:00Z to 9999-12-30T23:59:59.999999Z" in json.dumps(error)


async def test_the_document_states_the_range(client, api):
    document = json.dumps((await client.get(f"{api}/openapi.json")).json())
    assert "from 0001-01-02T00:00:00Z to 9999-12-30T23:59:59.999999Z" in document
