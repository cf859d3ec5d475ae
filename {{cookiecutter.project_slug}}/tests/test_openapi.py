"""The OpenAPI document says what the server does: names clients can use,
the limits the server enforces, every answer with its media type, and 405s
that list every method of a path."""

import re
from typing import Any

import pytest

from tests.example import booking_body, create_booking
from tests.helpers import assert_error

pytestmark = pytest.mark.anyio


@pytest.fixture
async def document(client, api) -> dict[str, Any]:
    schema: dict[str, Any] = (await client.get(f"{api}/openapi.json")).json()
    return schema


def _operations(document: dict[str, Any]):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method.upper(), operation


async def test_operation_ids_are_short_unique_and_named_by_resource(document, api):
    ids = {(path, method): op["operationId"] for path, method, op in _operations(document)}
    assert len(set(ids.values())) == len(ids)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in ids.values()), ids
    assert ids[(f"{api}/bookings", "GET")] == "bookings_list"
    assert ids[(f"{api}/bookings", "POST")] == "bookings_create"
    item = api + "/bookings/{booking_id}"
    assert ids[(item, "GET")] == "bookings_read"
    assert ids[(item, "PATCH")] == "bookings_update"
    assert ids[(f"{api}/admin/bookings/export", "GET")] == "admin_bookings_export"
    assert ids[(f"{api}/uploads/raw", "POST")] == "uploads_create_raw"
    upload = api + "/uploads/{upload_id}"
    assert ids[(upload, "GET")] == "uploads_read"
    assert ids[(upload, "DELETE")] == "uploads_delete"
    assert ids[(upload + "/content", "GET")] == "uploads_content"


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


async def test_every_answer_is_documented_with_its_media_type_and_headers(document, api):
    export = document["paths"][f"{api}/bookings/export"]["get"]["responses"]
    assert set(export["200"]["content"]) == {"application/json", "application/x-ndjson", "text/csv"}
    upload = document["paths"][f"{api}/uploads"]["post"]["responses"]
    for status in ("413", "415"):
        assert "application/json" in upload[status]["content"]
    # A create links to the new upload's operations, for clients and stateful tests.
    links = upload["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {
        "uploads_read",
        "uploads_content",
        "uploads_delete",
    }
    download = document["paths"][api + "/uploads/{upload_id}/content"]["get"]
    binary = {"type": "string", "format": "binary"}
    for status in ("200", "206"):
        content = download["responses"][status]["content"]
        assert list(content) == ["application/octet-stream", "*/*"]  # bytes first, any type
        assert all(media["schema"] == binary for media in content.values())
    assert download["responses"]["404"]["content"]["application/json"]
    (upload_id,) = download["parameters"]
    assert upload_id["schema"]["pattern"] == "^[0-9a-f]{32}$"
    for _path, _method, operation in _operations(document):
        responses = operation["responses"]
        assert "500" in responses
        for status in ("429", "503"):
            if status in responses:
                assert "Retry-After" in responses[status]["headers"]


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/bookings", "GET, HEAD, POST"),
        ("PUT", "/bookings/1", "DELETE, GET, HEAD, PATCH"),
        ("DELETE", "/uploads", "GET, HEAD, POST"),
        ("PUT", "/uploads/" + "0" * 32, "DELETE, GET, HEAD"),
        ("GET", "/uploads/raw", "POST"),  # not an upload id
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


async def test_each_upload_route_takes_its_own_form(client, api, alice):
    raw = await client.post(
        f"{api}/uploads/raw", content=b"x", headers={**alice, "Content-Type": "text/plain"}
    )
    assert_error(raw, 422, "validation_error")  # X-Filename is required there
    multipart = await client.post(
        f"{api}/uploads/raw",
        files={"file": ("a.txt", b"x", "text/plain")},
        headers={**alice, "X-Filename": "a.txt"},
    )
    assert_error(multipart, 415, "unsupported_media_type")
    named = {**alice, "Content-Type": "text/plain", "X-Filename": "a.txt"}
    assert (await client.post(f"{api}/uploads/raw", content=b"x", headers=named)).status_code == 201
