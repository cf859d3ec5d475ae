"""The served configuration (serving.py) against hostile and stalled clients:
real server processes, a single uvicorn worker and gunicorn alike."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

from tests.helpers import clear_of_a_window_edge, reader_that_stops, serving

pytestmark = pytest.mark.slow
MB = 1 << 20
MODES = [pytest.param((), id="single"), pytest.param(("--workers", "2"), id="gunicorn")]


def _cli(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "{{ cookiecutter.project_slug }}", *args]
    done = subprocess.run(
        command, env={**os.environ, **env}, check=True, capture_output=True, text=True, timeout=300
    )
    return done.stdout


def _exchange(base: str, head: bytes, *, receive_buffer: int | None = None) -> bytes:
    """Send a raw request head; return what the server answers until it closes."""
    host, port = base.removeprefix("http://").split(":")
    with socket.socket() as sock:
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(60)
        sock.connect((host, int(port)))
        with contextlib.suppress(OSError):  # refused mid-send: the answer may still be readable
            sock.sendall(head)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def _tree_rss(pid: int) -> int:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


def _settled_rss(pid: int) -> int:
    """The tree's RSS once it stops moving: gunicorn's workers start one by
    one after the first answers, and each grows while it starts."""
    previous = _tree_rss(pid)
    for _ in range(60):
        time.sleep(0.5)
        current = _tree_rss(pid)
        if abs(current - previous) < MB:
            return current
        previous = current
    return previous


@pytest.fixture
def env(database_url, tmp_path) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "UPLOAD_DIR": str(tmp_path / "uploads")}


@pytest.mark.parametrize("mode", MODES)
def test_request_heads_are_bounded_in_size_and_count(env, mode):
    huge = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 * MB) + b"\r\n\r\n"
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))
    with serving(env, *mode) as (process, base):
        for _ in range(8):  # new connections: every worker serves once
            assert httpx.get(f"{base}/api/health").status_code == 200
        before = _settled_rss(process.pid)
        answers: list[bytes] = []
        threads = [
            threading.Thread(target=lambda: answers.append(_exchange(base, huge))) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        # Served meanwhile: the big heads are refused, not buffered.
        assert httpx.get(f"{base}/api/health", timeout=30).status_code == 200
        for thread in threads:
            thread.join()
        grown = _tree_rss(process.pid) - before
        large = _exchange(base, huge[:40_000] + b"\r\n\r\n")
        counted = _exchange(base, b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    for answer in answers:  # 431, or reset under a client still sending 20 MiB
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    for answer in (large, counted):
        assert answer.startswith(b"HTTP/1.1 431 ") and b'"headers_too_large"' in answer
    assert grown < 16 * MB, f"the server grew by {grown / MB:.1f} MiB"


def test_a_request_head_that_never_ends_is_cut(env):
    with serving({**env, "HEADER_TIMEOUT_SECONDS": "1"}) as (_process, base):
        answer = _exchange(base, b"GET /api/health HTTP/1.1\r\nHost: x\r\n")  # no blank line
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"request_timeout"' in answer


@pytest.mark.parametrize("trusted", [False, True], ids=["default", "behind-a-proxy"])
def test_forwarded_addresses_are_trusted_only_from_configured_proxies(env, trusted):
    settings = {**env, "RATE_LIMIT_DEFAULT": "3/minute"}
    if trusted:
        settings["FORWARDED_ALLOW_IPS"] = "127.0.0.1"
    with serving(settings) as (_process, base):
        time.sleep(clear_of_a_window_edge(margin=10))
        statuses = [
            httpx.get(
                f"{base}/api/users/me", headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(5)
        ]
    # Anonymous: 401 while the address (as the server sees it) is under its limit.
    expected = [401] * 5 if trusted else [401, 401, 401, 429, 429]
    assert statuses == expected


def test_responses_carry_security_headers_once_and_no_server_banner(env):
    token = _cli(env, "create-user", "files@example.org").split()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    with serving(env) as (_process, base):
        files = {"file": ("a.txt", b"<html>not a page</html>", "text/plain")}
        upload = httpx.post(f"{base}/api/uploads", headers=auth, files=files)
        responses = [
            httpx.get(f"{base}/api/health"),
            httpx.get(f"{base}/api/nowhere"),
            httpx.get(f"{base}/api/uploads/{upload.json()['id']}/content", headers=auth),
        ]
    for response in responses:
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert response.headers.get_list("x-frame-options") == ["DENY"]
        assert "server" not in response.headers


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_ends_a_stalled_download_within_the_grace_time(tmp_path, mode):
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'download.db'}",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "SHUTDOWN_GRACE_SECONDS": "2",
        "RATE_LIMIT_ENABLED": "false",
        "MAX_UPLOAD_SIZE_MB": "64",  # whatever the project's answer: the file is 32 MiB
    }
    _cli(env, "migrate")
    token = _cli(env, "create-user", "ops@example.org").strip().splitlines()[-1]
    with serving(env, *mode) as (process, base):
        # Far more than the socket buffers between the server and a reader.
        stored = httpx.post(
            f"{base}/api/uploads/raw",
            content=b"\0" * (32 * MB),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/octet-stream",
                "X-Filename": "big.bin",
            },
            timeout=60,
        )
        assert stored.status_code == 201, stored.text
        head = (
            f"GET /api/uploads/{stored.json()['id']}/content HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
        with reader_that_stops(base, head):  # the file waits for it
            process.send_signal(signal.SIGTERM)
            # Without a grace time this waits for a reader that never reads.
            process.wait(timeout=60)


@pytest.mark.parametrize("mode", MODES)
def test_every_request_is_one_json_line_with_its_id(env, mode, tmp_path):
    output = tmp_path / "service.log"
    with serving({**env, "LOG_FORMAT": "json"}, *mode, output=output) as (_process, base):
        kept = httpx.get(f"{base}/api/uploads/{'0' * 32}", headers={"X-Request-ID": "trace-42"})
        made = httpx.get(f"{base}/api/nowhere", headers={"X-Request-ID": "not an id"})
    lines = [json.loads(line) for line in output.read_text().splitlines()]  # every line is JSON
    access = {line["request_id"]: line for line in lines if line["logger"].endswith(".access")}
    assert kept.headers["x-request-id"] == "trace-42" == kept.json()["error"]["request_id"]
    assert {key: access["trace-42"][key] for key in ("method", "route", "status")} == {
        "method": "GET",
        "route": "/api/uploads/{upload_id}",
        "status": 401,
    }
    made_id = made.headers["x-request-id"]
    assert made_id != "not an id" and access[made_id]["status"] == 404
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_a_head_leaves_no_body_on_a_kept_connection(env, tmp_path):
    # The server frames a HEAD's response by its method: a body announced by
    # Content-Length, but none sent, and the next response right after.
    output = tmp_path / "service.log"
    pipelined = (
        b"HEAD /api/health HTTP/1.1\r\nHost: x\r\nX-Request-ID: head-1\r\n\r\n"
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with serving({**env, "LOG_FORMAT": "json"}, output=output) as (_process, base):
        answer = _exchange(base, pipelined)
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: " in head.lower()
    assert rest.startswith(b"HTTP/1.1 200 "), answer
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["status"] == "ok"
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    (access,) = [line for line in lines if line.get("request_id") == "head-1" and "route" in line]
    assert (access["method"], access["route"], access["status"]) == ("HEAD", "/api/health", 200)


def test_text_lines_carry_the_request_id(env, tmp_path):
    output = tmp_path / "service.log"
    with serving({**env, "LOG_FORMAT": "text"}, output=output) as (_process, base):
        httpx.get(f"{base}/api/health", headers={"X-Request-ID": "trace-7"})
    assert " [trace-7] GET /api/health 200 " in output.read_text()
