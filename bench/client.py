"""The benchmark's HTTP client: http.client, one connection per request, on
loopback; and the helper servers it measures against (floors, baselines)."""

import http.client
import json

from harness.server import Server, free_port, serve


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


def get_json(port: int, path: str, headers: dict) -> dict:
    """GET `path`, which must answer 200; its JSON body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, body[:500])
        return json.loads(body)
    finally:
        conn.close()


def running(argv: list[str], env: dict) -> Server:
    """A server that takes its port as its last argument, once /api/health
    answers; use it with `with`, which stops it."""
    port = free_port()
    return serve([*argv, str(port)], port=port, env=env)
