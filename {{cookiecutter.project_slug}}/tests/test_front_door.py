"""The front door, served: bodies bounded in time, in number per client and
in what they cost once parsed; connections bounded by the open-file limit;
answers in request order. Real server processes and raw sockets, as hostile
or slow clients would send."""

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from tests.helpers import serving

pytestmark = pytest.mark.slow
MB = 1 << 20


def _cli(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "{{ cookiecutter.project_slug }}", *args]
    done = subprocess.run(
        command, env={**os.environ, **env}, check=True, capture_output=True, text=True, timeout=300
    )
    return done.stdout


@pytest.fixture
def env(database_url, tmp_path) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "UPLOAD_DIR": str(tmp_path / "uploads")}


@pytest.fixture
def token(env) -> str:
    return _cli(env, "create-user", "door@example.org", "--new-token-if-exists").split()[-1]


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    answer = b""
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _patch_head(token: str, length: int) -> bytes:
    return (
        b"PATCH /api/users/me HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (token.encode(), length)
    )


def test_a_body_that_trickles_is_cut_with_a_408(env, token):
    slow = {**env, "BODY_TIMEOUT_SECONDS": "1", "BODY_MIN_RATE_KB": "1"}
    with serving(slow) as (_process, base), _connect(base) as sock:
        sock.sendall(_patch_head(token, 1000) + b"{")
        started = time.monotonic()
        with contextlib.suppress(OSError):
            for _ in range(30):  # a byte every half second, far below 1 KiB/s
                time.sleep(0.5)
                sock.sendall(b" ")
        answer = _read_all(sock)
        waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"
        assert waited < 15  # cut well before the 30 bytes were sent
        # Others are served meanwhile and after.
        assert httpx.get(f"{base}/api/health").status_code == 200


def test_a_steady_slow_body_is_not_cut(env, token):
    """Above the minimum rate, a body may take longer than the timeout."""
    slow = {**env, "BODY_TIMEOUT_SECONDS": "1", "BODY_MIN_RATE_KB": "1"}
    body = json.dumps({"full_name": "x" * 6000}).encode()
    with serving(slow) as (_process, base), _connect(base) as sock:
        sock.sendall(_patch_head(token, len(body)))
        for start in range(0, len(body), 1024):  # 2 KiB a second for 3 seconds
            sock.sendall(body[start : start + 1024])
            time.sleep(0.5)
        status_line = sock.recv(100).split(b"\r\n")[0]
        assert b" 408 " not in status_line, status_line


def test_bodies_arriving_at_once_from_one_client_are_bounded(env, token):
    bounded = {**env, "MAX_BODIES_PER_CLIENT": "3", "BODY_TIMEOUT_SECONDS": "30"}
    with serving(bounded) as (_process, base):
        held = [_connect(base) for _ in range(3)]
        try:
            for sock in held:
                sock.sendall(_patch_head(token, 100) + b"{")  # bodies left unfinished
            time.sleep(0.5)
            with _connect(base) as fourth:
                fourth.sendall(_patch_head(token, 2) + b"{}")
                answer = _read_all(fourth)
            assert answer.startswith(b"HTTP/1.1 429 "), answer[:300]
            assert b"retry-after: 1" in answer.lower()
            # A request without a body is not one of them.
            assert httpx.get(f"{base}/api/health").status_code == 200
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.5)  # the held bodies are gone with their connections
        done = httpx.patch(
            f"{base}/api/users/me", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert done.status_code == 200, done.text


def test_connections_over_the_open_file_limit_get_503_never_500(env, token):
    """Under a 256 open-file limit the process takes (256 - 64) // 2 = 96
    connections; more get a JSON 503 at once, and every request on an
    admitted connection is served, files and database included."""
    prefix = ("prlimit", "--nofile=256:256")
    with serving(env, prefix=prefix) as (process, base):
        held: list[socket.socket] = []
        try:
            for _ in range(130):
                held.append(_connect(base))
            time.sleep(0.5)
            refused = 0
            for sock in held:
                sock.settimeout(0.05)
                with contextlib.suppress(TimeoutError):
                    if sock.recv(12).startswith(b"HTTP/1.1 503"):
                        refused += 1
            assert refused == 130 - 96, refused
            statuses = _requests_on_held(held, token)
            assert statuses and 500 not in statuses, statuses
            assert set(statuses) == {200}, statuses
        finally:
            for sock in held:
                sock.close()
        assert psutil.Process(process.pid).num_fds() < 256


def _requests_on_held(held: list[socket.socket], token: str) -> list[int]:
    """A list request on each held connection still open; their statuses."""
    statuses = []
    for sock in held:
        sock.settimeout(10)
        try:
            sock.sendall(
                b"GET /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                % token.encode()
            )
            line = sock.recv(12)
        except OSError:
            continue  # one of the refused: closed
        if line.startswith(b"HTTP/1.1 "):
            statuses.append(int(line[9:12]))
    return statuses


def test_pipelined_answers_leave_in_request_order(env, token):
    """A request whose head is over the limit, sent right behind a valid one
    on the same connection, is refused only after the first one's answer."""
    body = b"{}"
    first = _patch_head(token, len(body)) + body
    huge = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 << 10) + b"\r\n\r\n"
    with serving(env) as (_process, base), _connect(base) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(first + huge)
        answer = _read_all(sock)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer) == [b"200", b"431"], answer[:500]


def test_a_request_with_a_body_is_refused_unread_without_a_token(env):
    """The 401 leaves at once, with Connection: close, while the client is
    still sending: the service never waits for (or reads) the body."""
    with serving(env) as (_process, base), _connect(base) as sock:
        head = (
            b"PATCH /api/users/me HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (900 << 10)  # under the JSON limit
        )
        sock.sendall(head + b"[" * 1000)
        sock.settimeout(10)
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:300]
        assert b"connection: close" in answer.lower()


def test_a_json_body_over_the_limit_gets_413_before_it_is_sent(env, token):
    with serving({**env, "MAX_JSON_BODY_KB": "64"}) as (_process, base), _connect(base) as sock:
        sock.sendall(_patch_head(token, 13 * MB))
        sock.settimeout(10)
        answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
        assert b'"content_too_large"' in answer and b"connection: close" in answer.lower()


def test_a_running_response_is_never_cut_by_the_next_heads_timeout(env, token):
    """A partial head pipelined behind a slow response gets its 408 only after
    that response, never inside its body."""
    env = {**env, "HEADER_TIMEOUT_SECONDS": "1"}
    with serving(env) as (_process, base):
        for index in range(3):
            files = {"file": (f"f{index}.bin", os.urandom(MB), "application/octet-stream")}
            headers = {"Authorization": f"Bearer {token}"}
            assert httpx.post(f"{base}/api/uploads", files=files, headers=headers).is_success
        listed = httpx.get(f"{base}/api/uploads", headers={"Authorization": f"Bearer {token}"})
        upload_id = listed.json()["items"][0]["id"]
        with _connect(base) as sock:
            # Small enough that the 1 MiB file waits on it (128 KiB arrive by
            # the sleep's end), not so small that the window falls under one
            # segment: at 4 KiB the file then took 26 s to read.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(
                b"GET /api/uploads/%s/content HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer %s\r\n\r\nGET /api/health HTTP/1.1\r\n"
                % (str(upload_id).encode(), token.encode())
            )
            time.sleep(2.5)  # the next head's timeout passes while the file waits
            answer = _read_all(sock)
        head, _, rest = answer.partition(b"\r\n\r\n")
        declared = re.search(rb"(?i)content-length: (\d+)", head)
        assert declared is not None, head
        length = int(declared.group(1))
        assert head.startswith(b"HTTP/1.1 200 ")
        assert rest[length:].startswith(b"HTTP/1.1 408 "), rest[length : length + 100]
