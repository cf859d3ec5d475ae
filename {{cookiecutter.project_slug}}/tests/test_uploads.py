"""Streaming uploads and request body limits: bad input gets a clear 4xx and
leaves nothing on disk."""

import hashlib
import json
import os

import pytest

from {{ cookiecutter.project_slug }}.users import create_user

from tests.conftest import client_for
from tests.helpers import assert_error, booking_body

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
        huge = booking_body(notes="x" * (2 * MB))
        payload = json.dumps(huge).encode()
        sized = await client.post(f"{api}/bookings", content=payload, headers=headers)
        assert_error(sized, 413, "content_too_large")

        async def stream():
            for start in range(0, len(payload), 65536):
                yield payload[start : start + 65536]

        chunked = await client.post(f"{api}/bookings", content=stream(), headers=headers)
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
