"""What a request body may cost before the service pays for it: parsed bodies
(JSON, forms) bounded in bytes and, for JSON, in values and depth; a request
refused anyway (no token, a route turned off) answered without reading it.

Requests are sent as raw ASGI calls, so a test sees whether the body was read."""

import asyncio
import json
from typing import Any

import pytest

from tests.helpers import bearer, clear_of_a_window_edge

pytestmark = pytest.mark.anyio
KB = 1024


class Call:
    """One request sent to `app` as the server would, recording its answer
    and how many body messages the app asked for."""

    def __init__(self, method: str, path: str, headers: dict[str, str], chunks: list[bytes]):
        self.method, self.path, self.chunks = method, path, chunks
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.reads = 0
        self.status = 0
        self.response_headers: dict[str, str] = {}
        self.body = b""

    async def send_to(self, app) -> "Call":
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": self.method,
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": self.headers,
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
            "state": {},
        }
        await app(scope, self._receive, self._send)
        return self

    async def _receive(self) -> dict[str, Any]:
        self.reads += 1
        if self.reads <= len(self.chunks):
            more = self.reads < len(self.chunks)
            return {"type": "http.request", "body": self.chunks[self.reads - 1], "more_body": more}
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.response_headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    def error_code(self) -> str:
        code: str = json.loads(self.body)["error"]["code"]
        return code


def _json(body: bytes, headers: dict[str, str] | None = None, sized: bool = True) -> dict[str, str]:
    framing = {"Content-Length": str(len(body))} if sized else {"Transfer-Encoding": "chunked"}
    return {"Content-Type": "application/json", **framing, **(headers or {})}


def _pieces(body: bytes, size: int = 64 * KB) -> list[bytes]:
    return [body[start : start + size] for start in range(0, len(body), size)] or [b""]


async def test_a_json_body_over_its_limit_is_refused_unread(app_with, api):
    async with app_with(max_json_body_kb=64) as app:
        auth = await bearer(app, "big@example.org")
        body = json.dumps({"password": "x" * 300 * KB}).encode()
        sized = await Call("PATCH", f"{api}/users/me", _json(body, auth), [body]).send_to(app)
        assert (sized.status, sized.error_code(), sized.reads) == (413, "content_too_large", 0)
        assert sized.response_headers["connection"] == "close"
        chunked = Call("PATCH", f"{api}/users/me", _json(body, auth, sized=False), _pieces(body))
        await chunked.send_to(app)
        assert (chunked.status, chunked.error_code()) == (413, "content_too_large")
        assert chunked.reads < len(chunked.chunks)  # refused the moment it passed the limit


async def test_the_json_limit_leaves_other_bodies_their_own(app_with, api):
    """Uploads keep MAX_UPLOAD_SIZE_MB: the JSON limit is for bodies that are parsed."""
    async with app_with(max_json_body_kb=64) as app:
        auth = await bearer(app, "files@example.org")
        content = b"\0" * 200 * KB
        headers = {**auth, "Content-Type": "application/octet-stream", "X-Filename": "a.bin"}
        headers["Content-Length"] = str(len(content))
        upload = await Call("POST", f"{api}/uploads/raw", headers, [content]).send_to(app)
        assert upload.status == 201, upload.body


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[" + b",".join([b"{}"] * 2_001) + b"]", "values"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "levels"),
        (b"[" * 40 + b"]" * 40, "levels"),
    ],
    ids=["many-values", "deep-objects", "deep-arrays"],
)
async def test_json_structure_is_bounded_before_parsing(app_with, api, body, problem):
    async with app_with(max_json_values=2_000, max_json_depth=32) as app:
        auth = await bearer(app, "shape@example.org")
        for sized in (True, False):
            call = Call("PATCH", f"{api}/users/me", _json(body, auth, sized), _pieces(body, 100))
            await call.send_to(app)
            assert (call.status, call.error_code()) == (413, "json_too_complex"), call.body
            assert problem in json.loads(call.body)["error"]["message"]


async def test_commas_and_brackets_inside_strings_are_not_values(app_with, api):
    """Counting is exact once the quick count passes a bound: text full of
    commas, brackets and escaped quotes is one value, and is served."""
    async with app_with(max_json_values=100, max_json_depth=4) as app:
        auth = await bearer(app, "text@example.org")
        text = '[{,\\"]}' * 500
        body = json.dumps({"current_password": text, "password": "a-new-password"}).encode()
        call = await Call("PATCH", f"{api}/users/me", _json(body, auth), _pieces(body, 97)).send_to(
            app
        )
        # Read and parsed: the route's own answer (no password yet), not a 413.
        assert call.status != 413, call.body
        assert call.reads >= 1


async def test_a_request_without_a_token_is_refused_before_its_body(app, api):
    body = json.dumps({"password": "a-new-password"}).encode()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        call = Call("PATCH", f"{api}/users/me", _json(body, headers), [body])
        await call.send_to(app)
        assert (call.status, call.error_code(), call.reads) == (401, "unauthorized", 0)
        assert call.response_headers["connection"] == "close"


async def test_sign_up_turned_off_is_refused_before_its_body(app, api):
    assert not app.state.settings.allow_signup
    body = json.dumps({"email": "new@example.org", "password": "long-enough-pw"}).encode()
    call = await Call("POST", f"{api}/users", _json(body), [body]).send_to(app)
    assert (call.status, call.error_code(), call.reads) == (404, "not_found", 0)


async def test_an_unknown_path_or_method_never_reads_the_body(app, api):
    body = b"{}" * 1000
    for method, path in (("POST", f"{api}/no-such-thing"), ("PUT", f"{api}/users/me")):
        call = await Call(method, path, _json(body), [body]).send_to(app)
        assert call.status in (404, 405) and call.reads == 0, (method, path, call.status)


async def test_the_rate_limit_counts_a_request_with_a_body_once(app_with, api):
    """The limit is checked before the body, then FastAPI's own pass is a no-op."""
    async with app_with(rate_limit_default="3/minute") as app:
        auth = await bearer(app, "counted@example.org")
        body = json.dumps({}).encode()
        await asyncio.sleep(clear_of_a_window_edge())
        statuses = []
        for _ in range(4):
            call = await Call("PATCH", f"{api}/users/me", _json(body, auth), [body]).send_to(app)
            statuses.append(call.status)
        assert statuses[:3] == [200] * 3 and statuses[3] == 429, statuses
