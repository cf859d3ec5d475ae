"""Streaming uploads and request body limits: bad input gets a clear 4xx and
leaves nothing on disk. Stored uploads are read, downloaded (streamed, with
ranges) and deleted by their owner or an administrator only."""

import hashlib
import json
import logging
import os
from typing import Any
from urllib.parse import quote, unquote

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.project_slug }}.memory.testing import drain, max_memory
from {{ cookiecutter.project_slug }}.users import create_user

from tests.conftest import client_for
from tests.helpers import assert_error

pytestmark = pytest.mark.anyio
MB = 1 << 20


def _files(directory) -> list[str]:
    return sorted(os.listdir(directory)) if directory.exists() else []


async def test_multipart_upload_is_stored_with_its_hash(client, api, alice, settings):
    data = os.urandom(300_000)
    response = await client.post(
        f"{api}/uploads",
        files={"file": ("report.pdf", data, "application/pdf")},
        data={"comment": "ignored"},
        headers=alice,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert (body["filename"], body["content_type"]) == ("report.pdf", "application/pdf")
    assert _files(settings.upload_dir) == [body["id"]]
    assert (settings.upload_dir / body["id"]).read_bytes() == data


async def test_raw_upload_with_x_filename(client, api, alice, settings):
    data = b"a,b\n1,2\n"
    headers = {**alice, "Content-Type": "text/csv", "X-Filename": "numbers.csv"}
    response = await client.post(f"{api}/uploads", content=data, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["filename"], body["content_type"], body["size"]) == ("numbers.csv", "text/csv", 8)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()


async def test_a_raw_upload_keeps_the_type_it_was_sent_with(client, api, alice):
    headers = {**alice, "Content-Type": "image/png", "X-Filename": "dot.png"}
    response = await client.post(f"{api}/uploads/raw", content=b"\x89PNG", headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/png"
    content = await client.get(f"{api}/uploads/{response.json()['id']}/content", headers=alice)
    assert content.headers["content-type"] == "image/png"


async def test_client_file_names_never_become_paths(client, api, alice, settings, tmp_path):
    for name in ("../../etc/passwd", "..\\..\\windows\\system.ini", "/abs/path/x.txt", "\x00.."):
        response = await client.post(
            f"{api}/uploads",
            files={"file": (name, b"x", "text/plain")},
            headers=alice,
        )
        assert response.status_code == 201, response.text
        stored = response.json()
        assert "/" not in stored["filename"] and "\\" not in stored["filename"]
        assert (settings.upload_dir / stored["id"]).exists()
    # Nothing was written anywhere but the upload directory, under generated names.
    assert all(len(name) == 32 for name in _files(settings.upload_dir))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        (
            {"files": {"file": ("x.exe", b"MZ", "application/x-msdownload")}},
            415,
            "unsupported_media_type",
        ),
        ({"content": b"raw", "headers": {"Content-Type": "text/plain"}}, 400, "bad_request"),
        (
            {"content": b"raw", "headers": {"Content-Type": "application/x-sh", "X-Filename": "a"}},
            415,
            "unsupported_media_type",
        ),
        ({"files": {"other": ("a.txt", b"x", "text/plain")}}, 422, "validation_error"),
        (
            {
                "content": b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
                "headers": {"Content-Type": "multipart/form-data; boundary=b"},
            },
            400,
            "bad_request",
        ),
        ({"content": b"x", "headers": {"Content-Type": "multipart/form-data"}}, 400, "bad_request"),
    ],
    ids=[
        "type-not-allowed",
        "raw-without-name",
        "raw-type-not-allowed",
        "no-file-field",
        "truncated-multipart",
        "no-boundary",
    ],
)
async def test_bad_uploads_are_refused_and_leave_nothing(
    client, api, alice, settings, kwargs, status, code
):
    headers = {**alice, **kwargs.pop("headers", {})}
    response = await client.post(f"{api}/uploads", headers=headers, **kwargs)
    assert_error(response, status, code)
    assert _files(settings.upload_dir) == []


async def _chunks(total: int, size: int = 64 * 1024):
    sent = 0
    while sent < total:
        yield b"\0" * min(size, total - sent)
        sent += size


async def test_upload_limit_with_and_without_content_length(app_with, api):
    async with app_with(max_upload_size_mb=1) as app, client_for(app) as client:
        token = await create_user(app.state.engine, "big@example.org")
        headers = {"Authorization": f"Bearer {token}", "X-Filename": "big.bin"}
        headers["Content-Type"] = "application/octet-stream"
        upload_dir = app.state.settings.upload_dir
        sized = await client.post(f"{api}/uploads", content=b"\0" * (2 * MB), headers=headers)
        assert_error(sized, 413, "content_too_large")
        chunked = await client.post(f"{api}/uploads", content=_chunks(2 * MB), headers=headers)
        assert "content-length" not in chunked.request.headers
        assert_error(chunked, 413, "content_too_large")
        for multipart_size in (2 * MB, MB + 1):
            files = {"file": ("big.bin", b"\0" * multipart_size, "application/octet-stream")}
            auth = {"Authorization": headers["Authorization"]}
            response = await client.post(f"{api}/uploads", files=files, headers=auth)
            assert_error(response, 413, "content_too_large")
        assert _files(upload_dir) == []
        fits = await client.post(f"{api}/uploads", content=b"\0" * (MB - 10), headers=headers)
        assert fits.status_code == 201


async def test_json_body_limit_with_and_without_content_length(app_with, api):
    async with app_with(max_body_size_mb=1) as app, client_for(app) as client:
        token = await create_user(app.state.engine, "json@example.org")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        # Valid JSON for the route, but too large to be read at all.
        payload = json.dumps({"password": "x" * (2 * MB)}).encode()
        sized = await client.patch(f"{api}/users/me", content=payload, headers=headers)
        assert_error(sized, 413, "content_too_large")

        async def stream():
            for start in range(0, len(payload), 65536):
                yield payload[start : start + 65536]

        chunked = await client.patch(f"{api}/users/me", content=stream(), headers=headers)
        assert "content-length" not in chunked.request.headers
        assert_error(chunked, 413, "content_too_large")


async def test_uploads_list_is_per_owner_and_paginated(client, api, alice, bob):
    for index in range(3):
        files = {"file": (f"a{index}.txt", b"x", "text/plain")}
        assert (await client.post(f"{api}/uploads", files=files, headers=alice)).status_code == 201
    files = {"file": ("b.txt", b"x", "text/plain")}
    assert (await client.post(f"{api}/uploads", files=files, headers=bob)).status_code == 201
    first = (await client.get(f"{api}/uploads?page_size=2", headers=alice)).json()
    assert [item["filename"] for item in first["items"]] == ["a2.txt", "a1.txt"]
    cursor = first["pagination"]["next_cursor"]
    rest = (await client.get(f"{api}/uploads", params={"cursor": cursor}, headers=alice)).json()
    assert [item["filename"] for item in rest["items"]] == ["a0.txt"]
    theirs = (await client.get(f"{api}/uploads", headers=bob)).json()
    assert [item["filename"] for item in theirs["items"]] == ["b.txt"]


async def _upload(client, api, headers, data: bytes, name="a.txt", content_type="text/plain"):
    """A raw upload; the name percent-encoded, so any name arrives as it is."""
    sent = {**headers, "Content-Type": content_type, "X-Filename": quote(name)}
    response = await client.post(f"{api}/uploads/raw", content=data, headers=sent)
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    return stored


async def test_a_download_is_the_stored_file_with_its_headers(client, api, alice):
    data = os.urandom(5 * MB + 123)
    stored = await _upload(client, api, alice, data, "report.pdf", "application/pdf")
    # httpx asks for gzip: a stored file is sent as it is all the same.
    response = await client.get(f"{api}/uploads/{stored['id']}/content", headers=alice)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == stored["sha256"]
    assert response.content == data
    headers = response.headers
    assert headers["content-type"] == "application/pdf"
    assert headers["content-length"] == str(len(data))
    assert "content-encoding" not in headers
    assert headers["content-disposition"] == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )
    assert headers["accept-ranges"] == "bytes"  # nosniff: the server's (test_server.py)


@pytest.mark.parametrize(
    ("name", "plain", "encoded"),
    [
        ("r\u00e9sum\u00e9 2024.txt", "r_sum_ 2024.txt", "r%C3%A9sum%C3%A9%202024.txt"),
        ('say "hi".txt', "say _hi_.txt", "say%20%22hi%22.txt"),
        ("100% done;.txt", "100_ done;.txt", "100%25%20done%3B.txt"),
        ("\u5831\u544a.txt", "__.txt", "%E5%A0%B1%E5%91%8A.txt"),
    ],
    ids=["accents", "quotes", "percent", "cjk"],
)
async def test_the_file_name_is_sent_encoded_for_any_client(
    client, api, alice, name, plain, encoded
):
    stored = await _upload(client, api, alice, b"x" * 2000, name, "text/plain")
    response = await client.get(f"{api}/uploads/{stored['id']}/content", headers=alice)
    disposition = response.headers["content-disposition"]
    assert disposition == f"attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}"
    assert unquote(disposition.partition("filename*=UTF-8''")[2]) == stored["filename"]
    # The stored type exactly: no charset is claimed for a file of unknown encoding.
    assert response.headers["content-type"] == "text/plain"


async def test_read_answers_the_stored_metadata(client, api, alice):
    stored = await _upload(client, api, alice, b"a,b\n", "n.csv", "text/csv")
    response = await client.get(f"{api}/uploads/{stored['id']}", headers=alice)
    assert response.status_code == 200
    assert response.json() == stored


async def test_uploads_of_others_are_not_found(client, api, alice, bob, settings):
    stored = await _upload(client, api, alice, b"private")
    item = f"{api}/uploads/{stored['id']}"
    for method, url in (("GET", item), ("GET", f"{item}/content"), ("DELETE", item)):
        assert_error(await client.request(method, url, headers=bob), 404, "not_found")
    assert (settings.upload_dir / stored["id"]).exists()
    assert (await client.get(item, headers=alice)).status_code == 200


async def test_an_administrator_reads_downloads_and_deletes_any_upload(
    client, api, alice, admin, settings
):
    stored = await _upload(client, api, alice, b"for the record")
    item = f"{api}/uploads/{stored['id']}"
    assert (await client.get(item, headers=admin)).json() == stored
    assert (await client.get(f"{item}/content", headers=admin)).content == b"for the record"
    assert (await client.delete(item, headers=admin)).status_code == 204
    assert not (settings.upload_dir / stored["id"]).exists()
    assert_error(await client.get(item, headers=alice), 404, "not_found")


async def test_delete_removes_the_row_and_then_the_file(client, api, alice, settings):
    kept = await _upload(client, api, alice, b"kept")
    stored = await _upload(client, api, alice, b"gone")
    item = f"{api}/uploads/{stored['id']}"
    response = await client.delete(item, headers=alice)
    assert response.status_code == 204 and response.content == b""
    assert _files(settings.upload_dir) == [kept["id"]]
    assert_error(await client.get(item, headers=alice), 404, "not_found")
    assert_error(await client.get(f"{item}/content", headers=alice), 404, "not_found")
    listed = (await client.get(f"{api}/uploads", headers=alice)).json()["items"]
    assert [upload["id"] for upload in listed] == [kept["id"]]
    assert_error(await client.delete(item, headers=alice), 404, "not_found")


async def test_a_delete_that_cannot_commit_leaves_row_and_file(
    client, api, alice, settings, monkeypatch
):
    stored = await _upload(client, api, alice, b"still here")

    async def lost(_session):
        raise ConnectionError("connection lost")

    monkeypatch.setattr(AsyncSession, "commit", lost)
    response = await client.delete(f"{api}/uploads/{stored['id']}", headers=alice)
    assert_error(response, 503, "database_unavailable")
    monkeypatch.undo()
    assert (settings.upload_dir / stored["id"]).read_bytes() == b"still here"
    assert (await client.get(f"{api}/uploads/{stored['id']}", headers=alice)).status_code == 200


async def test_a_file_missing_on_disk_is_a_404_and_a_warning(client, api, alice, settings, caplog):
    stored = await _upload(client, api, alice, b"soon lost")
    (settings.upload_dir / stored["id"]).unlink()
    caplog.set_level(logging.WARNING)
    item = f"{api}/uploads/{stored['id']}"
    assert_error(await client.get(f"{item}/content", headers=alice), 404, "not_found")
    assert any("has a row but no file" in r.getMessage() for r in caplog.records)
    # Deleting such an upload still works: the row goes, the missing file is logged.
    assert (await client.delete(item, headers=alice)).status_code == 204
    assert any("already gone" in r.getMessage() for r in caplog.records)
    assert_error(await client.get(item, headers=alice), 404, "not_found")


@pytest.mark.parametrize(
    "upload_id",
    ["0" * 32, "0" * 31, "0" * 33, "A" * 32, "g" * 32, "%00" + "0" * 31, "..%2F" + "0" * 32],
    ids=["unknown", "short", "long", "uppercase", "not-hex", "nul", "dot-dot"],
)
async def test_unknown_and_malformed_upload_ids_are_not_found(client, api, alice, upload_id):
    # A malformed id matches no route: nothing is looked up.
    item = f"{api}/uploads/{upload_id}"
    for method, url in (("GET", item), ("GET", f"{item}/content"), ("DELETE", item)):
        assert_error(await client.request(method, url, headers=alice), 404, "not_found")


async def test_range_requests_get_the_bytes_asked_for(client, api, alice):
    data = os.urandom(200_000)
    stored = await _upload(client, api, alice, data, "big.bin", "application/octet-stream")
    url = f"{api}/uploads/{stored['id']}/content"
    part = await client.get(url, headers={**alice, "Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert part.headers["content-length"] == "1000"
    tail = await client.get(url, headers={**alice, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    # If-Range: the rest only if the file is still the one whose ETag the client has.
    etag = part.headers["etag"]
    resumed = await client.get(url, headers={**alice, "Range": "bytes=1000-", "If-Range": etag})
    assert resumed.status_code == 206 and resumed.content == data[1000:]
    beyond = await client.get(url, headers={**alice, "Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"


# A download holds one 64 KiB read at a time (~170 KiB in all, measured):
# room for noise, far below a file read whole.
DOWNLOAD_BUDGET_KB = 1024


async def test_a_large_download_streams_within_a_small_budget(app, client, api, alice, settings):
    size = min(20, settings.max_upload_size_mb) * MB
    stored = await _upload(client, api, alice, b"\0" * size, "big.bin", "application/octet-stream")
    url = f"{api}/uploads/{stored['id']}/content"
    await drain(app, url, alice)  # warm-up: imports, compiled statements
    with max_memory(kb=DOWNLOAD_BUDGET_KB):
        status, sent = await drain(app, url, alice)
    assert (status, sent) == (200, size)  # many times the budget went through it
