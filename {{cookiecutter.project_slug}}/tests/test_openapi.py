"""The OpenAPI document says what the server does: names clients can use,
the limits the server enforces, every answer with its media type, and 405s
that list every method of a path."""

import re
from typing import Any

import pytest

from tests.conftest import client_for
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
    assert ids[(f"{api}/uploads", "GET")] == "uploads_list"
    assert ids[(f"{api}/uploads", "POST")] == "uploads_create"
    assert ids[(f"{api}/uploads/raw", "POST")] == "uploads_create_raw"
    upload = api + "/uploads/{upload_id}"
    assert ids[(upload, "GET")] == "uploads_read"
    assert ids[(upload, "DELETE")] == "uploads_delete"
    assert ids[(upload + "/content", "GET")] == "uploads_content"
    assert ids[(f"{api}/users/me", "GET")] == "users_read_me"
    assert ids[(f"{api}/users/me", "PATCH")] == "users_update_me"
    assert ids[(f"{api}/admin/users", "GET")] == "admin_users_list"
    assert ids[(api + "/admin/users/{user_id}", "PATCH")] == "admin_users_update"


async def test_the_document_states_the_limits_the_server_enforces(document, settings, api):
    for path in (f"{api}/uploads", f"{api}/admin/users"):
        page_size = next(
            p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "page_size"
        )
        integer = next(b for b in page_size["schema"]["anyOf"] if b.get("type") == "integer")
        assert integer["maximum"] == settings.max_page_size
    schemas = document["components"]["schemas"]
    # Partial updates: a field may be left out, never null.
    own = schemas["OwnUpdate"]["properties"]
    assert "anyOf" not in own["password"] and own["password"]["type"] == "string"
    assert own["password"]["pattern"] == "^[^\\u0000]*$"  # no NUL
    assert own["password"]["maxLength"] == own["current_password"]["maxLength"]
    admin = schemas["AdminUpdate"]["properties"]
    for name in ("is_active", "is_admin"):
        assert "anyOf" not in admin[name] and admin[name]["type"] == "boolean", admin


async def test_every_answer_is_documented_with_its_media_type_and_headers(document, settings, api):
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
    # A raw upload is any allowed type, stored as sent (Content-Type).
    raw = document["paths"][f"{api}/uploads/raw"]["post"]["requestBody"]["content"]
    allowed = settings.allowed_upload_types
    assert next(iter(raw)) == "application/octet-stream" and sorted(raw) == sorted(allowed)
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


async def test_the_document_reads_right_in_tools_not_only_swagger_ui(document, api):
    # Relative URLs resolve against the server, so the token URL is absolute.
    assert document["servers"] == [{"url": "/", "description": "This service"}]
    scheme = document["components"]["securitySchemes"]["BearerToken"]
    assert scheme["flows"]["password"]["tokenUrl"] == f"{api}/auth/token"
    open_routes = {
        (path, method) for path, method, op in _operations(document) if op["security"] == []
    }
    assert open_routes == {
        (f"{api}/health", "GET"),
        (f"{api}/health/ready", "GET"),
        (f"{api}/auth/token", "POST"),
    }
    assert document["info"]["license"]["identifier"]


async def test_a_route_a_setting_turns_off_is_left_out(document, app_with, api):
    # Sign-up is off by default: POST /users answers 404, and is not documented.
    assert f"{api}/users" not in document["paths"]
    assert "SignUp" not in document["components"]["schemas"]
    async with app_with(allow_signup=True) as app, client_for(app) as client:
        signup = (await client.get(f"{api}/openapi.json")).json()
    assert signup["paths"][f"{api}/users"]["post"]["security"] == []
    assert "x-enabled-by" not in signup["paths"][f"{api}/users"]["post"]
    assert "SignUp" in signup["components"]["schemas"]


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("DELETE", "/uploads", "GET, HEAD, POST"),
        ("PUT", "/uploads/" + "0" * 32, "DELETE, GET, HEAD"),
        ("GET", "/uploads/raw", "POST"),  # not an upload id
        ("PUT", "/users/me", "GET, HEAD, PATCH"),
        ("DELETE", "/admin/users/1", "PATCH"),
    ],
)
async def test_a_405_lists_every_method_of_the_path(client, api, alice, method, path, allowed):
    response = await client.request(method, f"{api}{path}", headers=alice)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed


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
