"""Hostile input and races: each is a 4xx with the JSON error, never a 500, and
nothing changes or stays behind. Every test runs on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL."""

import os
import time
from typing import Any

import pytest
from sqlalchemy import delete, select

from {{ cookiecutter.project_slug }}.accounts import TOKENS, USER_COLUMNS, USERS
from {{ cookiecutter.project_slug }}.models import Upload
from {{ cookiecutter.project_slug }}.pagination import PageParamsDep, SortKey, paginate
from {{ cookiecutter.project_slug }}.partial_files import ORPHAN_SECONDS, partial_path
from {{ cookiecutter.project_slug }}.reads import ReaderDep
from {{ cookiecutter.project_slug }}.responses import RowsJSONResponse
from {{ cookiecutter.project_slug }}.users import create_user

from tests.conftest import client_for
from tests.helpers import assert_error, bearer, create_upload, deleting_before_flush

pytestmark = pytest.mark.anyio
MB = 1 << 20
NUL = "a\x00b"


def _field_of(error: dict[str, Any]) -> str:
    field: str = error["details"][0]["loc"][-1]
    return field


async def test_text_the_database_cannot_store_is_a_422_naming_the_field(app_with, api):
    async with app_with(allow_signup=True) as app, client_for(app) as client:
        password = NUL * 4  # long enough: refused for the NUL alone
        sign_up = {"email": "nul@example.org", "password": password}
        response = await client.post(f"{api}/users", json=sign_up)
        assert _field_of(assert_error(response, 422, "validation_error")) == "password"
        headers = await bearer(app, "alice@example.org")
        before = (await client.get(f"{api}/users/me", headers=headers)).json()
        for field in ("password", "current_password"):
            body = {"password": "a new password", field: password}
            response = await client.patch(f"{api}/users/me", json=body, headers=headers)
            assert _field_of(assert_error(response, 422, "validation_error")) == field
        assert (await client.get(f"{api}/users/me", headers=headers)).json() == before
        # Nothing was stored: the address is still free.
        sign_up["password"] = "a good password"
        assert (await client.post(f"{api}/users", json=sign_up)).status_code == 201


@pytest.fixture
def deleted_before_flush(app):
    """The next flush first deletes the upload it writes."""
    with deleting_before_flush(Upload):
        yield


# SQLAlchemy warns that the DELETE matched no row: expected here.
@pytest.mark.filterwarnings("ignore:DELETE statement on table")
async def test_a_delete_racing_a_delete_succeeds_once_the_row_is_gone(
    client, api, alice, deleted_before_flush
):
    # DELETE is idempotent: the row is gone either way, so both get 204.
    created = await create_upload(client, api, alice)
    url = f"{api}/uploads/{created['id']}"
    assert (await client.delete(url, headers=alice)).status_code == 204
    assert_error(await client.get(url, headers=alice), 404, "not_found")
    assert_error(await client.get(f"{url}/content", headers=alice), 404, "not_found")


@pytest.mark.parametrize(
    "content_type, body",
    [
        (f"multipart/form-data; boundary={'b' * 71}", b"--" + b"b" * 71 + b"\r\n"),
        (f"multipart/form-data; boundary={'b' * 5000}", b"x"),
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=x", b"not multipart at all"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data"),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n\r\n--x--garbage\r\n"),
    ],
)
async def test_malformed_multipart_is_a_400_and_leaves_nothing(
    client, api, alice, settings, content_type, body
):
    headers = {**alice, "Content-Type": content_type}
    response = await client.post(f"{api}/uploads", content=body, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert_error(response, response.status_code, response.json()["error"]["code"])
    assert os.listdir(settings.upload_dir) == []


async def test_the_upload_limit_applies_to_the_file_not_its_framing(app_with):
    async with app_with(max_upload_size_mb=1) as app:
        headers = await bearer(app, "alice@example.org")
        async with client_for(app) as client:
            url = f"{app.state.settings.api_prefix}/uploads"
            exact = {"file": ("exact.bin", b"x" * MB, "application/octet-stream")}
            response = await client.post(url, files=exact, headers=headers)
            assert response.status_code == 201, response.text
            assert response.json()["size"] == MB
            over = {"file": ("over.bin", b"x" * (MB + 1), "application/octet-stream")}
            assert_error(
                await client.post(url, files=over, headers=headers), 413, "content_too_large"
            )


@pytest.mark.parametrize(
    "sent",
    [
        "caf\u00e9 \u20ac.txt".encode(),  # raw UTF-8 bytes, as curl sends them
        b"caf%C3%A9%20%E2%82%AC.txt",  # percent-encoded
        b"UTF-8''caf%C3%A9%20%E2%82%AC.txt",  # RFC 8187
    ],
)
async def test_non_ascii_file_names_survive_a_raw_upload(client, api, alice, sent):
    headers = {**alice, "Content-Type": "text/plain", "X-Filename": sent}
    response = await client.post(f"{api}/uploads", content=b"hello", headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "caf\u00e9 \u20ac.txt"


async def test_partial_files_of_stopped_workers_are_swept_at_start(app_with, settings):
    directory = settings.upload_dir
    directory.mkdir(parents=True, exist_ok=True)
    live = partial_path(directory, "live")  # this process: still writing
    dead = live.with_name(live.name.replace(f"-{os.getpid()}.", "-999999999."))
    foreign = directory / ".other.otherhost-1.part"
    old_foreign = directory / ".old.otherhost-1.part"
    for path in (live, dead, foreign, old_foreign):
        path.write_bytes(b"partial")
    long_ago = time.time() - ORPHAN_SECONDS - 60
    os.utime(old_foreign, (long_ago, long_ago))
    async with app_with():
        assert sorted(p.name for p in directory.iterdir()) == sorted([live.name, foreign.name])


_USERS = select(*USER_COLUMNS)
_ADMINS = _USERS.where(USERS.c.is_admin)
_BY_ID = SortKey((USERS.c.id,), descending=False)


async def _people(reader: ReaderDep, page: PageParamsDep, admins: bool = False) -> RowsJSONResponse:
    """A list with a filter, as a resource's list routes have them."""
    return RowsJSONResponse(await paginate(reader, _ADMINS if admins else _USERS, page, _BY_ID))


async def test_a_cursor_ignores_query_parameters_the_route_does_not_read(
    app, client, api, admin, make_user
):
    for name in ("kim", "lee"):
        await make_user(f"{name}@example.org", admin=True)
    app.router.add_api_route(f"{api}/people", _people)
    # The generic list every project has, and one with a filter.
    for url in (f"{api}/admin/users", f"{api}/people"):
        params = {"page_size": 1, "admins": "true"}
        first = (await client.get(url, params=params, headers=admin)).json()
        cursor = first["pagination"]["next_cursor"]
        # A cache buster added by a client or a proxy: the rows are the same.
        params = {**params, "cursor": cursor, "_": "1732960000"}
        response = await client.get(url, params=params, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["items"][0]["id"] != first["items"][0]["id"]
    # A filter the route reads still binds the cursor to its query.
    params = {**params, "admins": "false"}
    response = await client.get(url, params=params, headers=admin)
    assert_error(response, 400, "invalid_cursor")


async def _broken() -> dict[str, str]:
    raise RuntimeError("a bug")


async def test_a_bug_is_a_json_500_logged_once_and_not_raised_to_the_server(app, api, caplog):
    app.router.add_api_route(f"{api}/broken", _broken)
    # The transport re-raises what escapes the app, as the server would log it again.
    async with client_for(app) as client:
        response = await client.get(f"{api}/broken")
    assert_error(response, 500, "error")
    assert "a bug" not in response.text
    assert len([record for record in caplog.records if record.exc_info]) == 1


async def test_an_id_is_never_handed_out_twice(app, client, api, admin):
    # Without AUTOINCREMENT, SQLite gives the next row the largest id plus
    # one: the deleted newest user's id would name a new user.
    await create_user(app.state.engine, "newest@example.org")
    page = (await client.get(f"{api}/admin/users", headers=admin)).json()
    newest = max(user["id"] for user in page["items"])
    async with app.state.engine.begin() as conn:
        await conn.execute(delete(TOKENS).where(TOKENS.c.user_id == newest))
        await conn.execute(delete(USERS).where(USERS.c.id == newest))
    await create_user(app.state.engine, "next@example.org")
    page = (await client.get(f"{api}/admin/users", headers=admin)).json()
    assert max(user["id"] for user in page["items"]) > newest
