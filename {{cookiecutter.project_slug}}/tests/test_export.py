"""Streaming exports: formats, filters, ownership, the concurrency cap."""

import csv
import io
import json

import pytest
from sqlalchemy import event

from {{ cookiecutter.project_slug }}.settings import SettingsError, load_settings

from tests.example import booking_body
from tests.helpers import assert_error

pytestmark = pytest.mark.anyio


async def _bookings(client, api, headers, count: int, **extra) -> None:
    for index in range(count):
        body = booking_body(title=f"t{index}", hours_from_base=index, **extra)
        assert (await client.post(f"{api}/bookings", json=body, headers=headers)).status_code == 201


async def test_json_export_keeps_the_items_shape(client, api, alice, bob):
    await _bookings(client, api, alice, 3, notes='quotes " and, commas\nnewline')
    await _bookings(client, api, bob, 2)
    response = await client.get(f"{api}/bookings/export?format=json", headers=alice)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert 'filename="bookings-' in response.headers["content-disposition"]
    assert response.headers["content-disposition"].endswith('.json"')
    items = response.json()["items"]
    assert [item["title"] for item in items] == ["t2", "t1", "t0"]  # own rows only
    assert items[0]["notes"] == 'quotes " and, commas\nnewline'
    assert items[0]["start_datetime"] == "2030-05-01T11:00:00Z"


async def test_empty_exports_are_valid(client, api, alice):
    assert (await client.get(f"{api}/bookings/export?format=json", headers=alice)).json() == {
        "items": []
    }
    assert (await client.get(f"{api}/bookings/export?format=ndjson", headers=alice)).text == ""
    header = (await client.get(f"{api}/bookings/export?format=csv", headers=alice)).text
    assert header.strip().split(",")[0] == "id"


async def test_ndjson_export_one_row_per_line(client, api, alice):
    await _bookings(client, api, alice, 4)
    response = await client.get(f"{api}/bookings/export?format=ndjson", headers=alice)
    assert response.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert len(rows) == 4
    assert {"id", "notes", "user_id", "created_at"} <= set(rows[0])


async def test_csv_export_has_header_and_quoting(client, api, alice):
    await _bookings(client, api, alice, 2, notes='say "hi", then\nleave')
    response = await client.get(f"{api}/bookings/export?format=csv", headers=alice)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2
    assert rows[0]["notes"] == 'say "hi", then\nleave'
    assert rows[0]["title"] == "t1"
    assert rows[0]["start_datetime"] == "2030-05-01T10:00:00Z"


async def test_export_filters_and_admin_export(client, api, alice, bob, admin):
    await _bookings(client, api, alice, 2, status="confirmed")
    await _bookings(client, api, bob, 3)
    mine = await client.get(f"{api}/bookings/export?format=json&status=confirmed", headers=alice)
    assert len(mine.json()["items"]) == 2
    everyone = await client.get(f"{api}/admin/bookings/export?format=json", headers=admin)
    assert len(everyone.json()["items"]) == 5
    pending = await client.get(
        f"{api}/admin/bookings/export",
        params={"format": "json", "status": "pending"},
        headers=admin,
    )
    assert len(pending.json()["items"]) == 3
    assert_error(await client.get(f"{api}/admin/bookings/export", headers=alice), 403, "forbidden")


async def test_bad_format_is_422(client, api, alice):
    response = await client.get(f"{api}/bookings/export?format=xml", headers=alice)
    assert_error(response, 422, "validation_error")


async def test_exports_over_the_cap_get_429(client, api, alice, app):
    slots = app.state.export_slots
    slots.in_use = slots.limit  # every slot taken by exports still streaming
    try:
        response = await client.get(f"{api}/bookings/export", headers=alice)
        assert_error(response, 429, "too_many_requests")
        assert int(response.headers["retry-after"]) > 0
    finally:
        slots.in_use = 0
    assert (await client.get(f"{api}/bookings/export", headers=alice)).status_code == 200
    assert slots.in_use == 0  # released when the stream ended


async def test_one_user_cannot_take_every_export_slot(client, api, alice, bob, app):
    me = (await client.get(f"{api}/users/me", headers=alice)).json()["id"]
    slots, per_user = app.state.export_slots, app.state.settings.max_exports_per_user
    for _ in range(per_user):  # alice's exports, still streaming
        slots.acquire(me, per_user)
    try:
        response = await client.get(f"{api}/bookings/export", headers=alice)
        error = assert_error(response, 429, "too_many_requests")
        assert error["message"].startswith(f"You have {per_user} exports running")
        assert int(response.headers["retry-after"]) > 0
        assert (await client.get(f"{api}/bookings/export", headers=bob)).status_code == 200
    finally:
        for _ in range(per_user):
            slots.release(me)
    assert (await client.get(f"{api}/bookings/export", headers=alice)).status_code == 200
    assert slots.in_use == 0


async def test_head_of_an_export_sends_its_headers_and_runs_no_query(client, api, alice, app):
    await _bookings(client, api, alice, 2)
    connections = []

    def checked_out(connection, _record, _proxy):
        connections.append(connection)

    engine = app.state.engine.sync_engine
    event.listen(engine, "checkout", checked_out)
    try:
        head = await client.head(f"{api}/bookings/export?format=csv", headers=alice)
        assert connections == [] and app.state.export_slots.in_use == 0
        got = await client.get(f"{api}/bookings/export?format=csv", headers=alice)
        assert len(connections) == 1
    finally:
        event.remove(engine, "checkout", checked_out)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-disposition"].startswith('attachment; filename="bookings-')


def test_the_per_user_cap_fits_in_the_worker_cap():
    with pytest.raises(SettingsError, match="MAX_EXPORTS_PER_USER"):
        load_settings(max_exports_per_user=5, max_concurrent_exports=4, _env_file=None)


async def test_large_exports_are_gzipped(client, api, alice):
    await _bookings(client, api, alice, 30)
    response = await client.get(
        f"{api}/bookings/export?format=ndjson", headers={**alice, "Accept-Encoding": "gzip"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert len(response.text.splitlines()) == 30  # httpx decompresses
    small = await client.get(f"{api}/health", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
