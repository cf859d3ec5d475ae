"""The OpenAPI document and the answers of the example resources: their
operationIds, the limits of their schemas, their export's media types and
the methods of their paths."""

from typing import Any

import pytest

from tests.example import booking_body, create_booking
from tests.helpers import assert_error

pytestmark = pytest.mark.anyio


@pytest.fixture
async def document(client, api) -> dict[str, Any]:
    schema: dict[str, Any] = (await client.get(f"{api}/openapi.json")).json()
    return schema


async def test_operation_ids_are_named_by_resource(document, api):
    ids = {
        (path, method.upper()): operation["operationId"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert ids[(f"{api}/bookings", "GET")] == "bookings_list"
    assert ids[(f"{api}/bookings", "POST")] == "bookings_create"
    item = api + "/bookings/{booking_id}"
    assert ids[(item, "GET")] == "bookings_read"
    assert ids[(item, "PATCH")] == "bookings_update"
    assert ids[(f"{api}/admin/bookings/export", "GET")] == "admin_bookings_export"


async def test_the_document_states_the_limits_the_server_enforces(document, settings, api):
    page_size = next(
        p
        for p in document["paths"][f"{api}/bookings"]["get"]["parameters"]
        if p["name"] == "page_size"
    )
    integer = next(b for b in page_size["schema"]["anyOf"] if b.get("type") == "integer")
    assert integer["maximum"] == settings.max_page_size
    schemas = document["components"]["schemas"]
    update = schemas["BookingUpdate"]["properties"]
    # Only venue_id may be null in a partial update; the others may only be left out.
    assert "anyOf" not in update["title"] and update["title"]["type"] == "string"
    assert {"type": "null"} in update["venue_id"]["anyOf"]
    assert update["title"]["pattern"] == "^[^\\u0000]*$"  # no NUL
    price = schemas["BookingItemCreate"]["properties"]["unit_price"]["anyOf"]
    assert {"type": "string", "pattern": "^\\d{1,8}(\\.\\d{1,2})?$"} in price
    # A rule across fields, which no JSON Schema keyword states, is said in words.
    for name in ("BookingCreate", "BookingUpdate"):
        rule = "end_datetime must be after start_datetime"
        assert rule in " ".join(schemas[name]["description"].split()), name
        assert schemas[name]["properties"]["end_datetime"]["description"] == rule


async def test_an_export_is_documented_with_its_media_types(document, api):
    export = document["paths"][f"{api}/bookings/export"]["get"]["responses"]
    assert set(export["200"]["content"]) == {"application/json", "application/x-ndjson", "text/csv"}


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/bookings", "GET, HEAD, POST"),
        ("PUT", "/bookings/1", "DELETE, GET, HEAD, PATCH"),
        ("PATCH", "/venues", "GET, HEAD, POST"),
    ],
)
async def test_a_405_lists_every_method_of_the_path(client, api, alice, method, path, allowed):
    response = await client.request(method, f"{api}{path}", headers=alice)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed


async def test_a_created_booking_answers_what_was_stored(client, api, alice):
    items = [{"name": "Tea", "quantity": 1, "unit_price": "0.1"}]
    created = await create_booking(client, api, alice, items=items)
    assert created["items"][0]["unit_price"] == "0.10"
    read = await client.get(f"{api}/bookings/{created['id']}", headers=alice)
    assert read.json()["items"] == created["items"]
    for price in ("1E+3", "1.234", "-1", "123456789"):
        body = booking_body(items=[{"name": "Tea", "quantity": 1, "unit_price": price}])
        response = await client.post(f"{api}/bookings", json=body, headers=alice)
        assert_error(response, 422, "validation_error")


async def test_datetimes_are_iso_strings_never_numbers(client, api, admin):
    for value in ("0.5", "1732960000"):
        response = await client.get(
            f"{api}/admin/bookings", params={"start_from": value}, headers=admin
        )
        assert_error(response, 422, "validation_error")
