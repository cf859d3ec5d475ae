"""The benchmark's HTTP client: http.client, one connection per request, on loopback."""

import contextlib
import http.client
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(
    port: int, method: str, path: str, headers: dict | None = None, body=None
) -> tuple[int, int]:
    """One request; the body is read and discarded in chunks. Returns (status, bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        encode_chunked = body is not None and not isinstance(body, bytes)
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=encode_chunked)
        response = conn.getresponse()
        received = 0
        while chunk := response.read(1 << 16):
            received += len(chunk)
        return response.status, received
    finally:
        conn.close()


def wait_for_health(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if request(port, "GET", "/api/health")[0] == 200:
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start") from None
            time.sleep(0.1)


@contextlib.contextmanager
def running(argv: list[str], env: dict):
    """Start a server that takes its port as its last argument; yield
    (process, port) once /api/health answers; stop it on the way out."""
    port = free_port()
    process = subprocess.Popen([*argv, str(port)], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for_health(port, process)
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=60)
