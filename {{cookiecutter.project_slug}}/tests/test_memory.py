"""Memory stays flat in the size of the data: compared by proportion inside
one run, never against absolute megabytes or seconds.

The service runs in a subprocess; its peak resident memory during a request
is read from /proc (VmHWM, reset before each request through clear_refs).
"""

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from {{ cookiecutter.project_slug }}.users import create_user

from tests.helpers import serving

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc"),
]
MB = 1 << 20
# Allowed growth of the peak between a small and a much larger request: a
# buffered upload of 200 MB needs 200 MB, a streamed one a few (as a buffered
# export of 200,000 rows needs ~100 MB).
SMALL_CONSTANT = 12 * MB


def _reset_peak(pid: int) -> int:
    """Reset the process's VmHWM to its current RSS and return that RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status(pid, "VmRSS")


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base: str) -> None:
        self.process, self.base = process, base

    async def peak_growth(self, request) -> tuple[int, object]:
        """Run `request()` and return (peak RSS growth in bytes, its result)."""
        before = _reset_peak(self.process.pid)
        result = await request()
        return _status(self.process.pid, "VmHWM") - before, result


@contextlib.contextmanager
def running_service(database_url: str, upload_dir: Path):
    env = {
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(upload_dir),
        "MAX_UPLOAD_SIZE_MB": "400",
        "RATE_LIMIT_ENABLED": "false",  # more requests than their limits allow
    }
    with serving(env) as (process, base):
        yield Server(process, base)


async def _upload(client: httpx.AsyncClient, size: int, headers: dict[str, str]) -> dict[str, Any]:
    async def body():
        chunk = os.urandom(MB)
        for sent in range(0, size, MB):
            yield chunk[: min(MB, size - sent)]

    response = await client.post("/api/uploads", content=body(), headers=headers)
    assert response.status_code == 201, response.text
    upload: dict[str, Any] = response.json()
    return upload


async def test_upload_peak_is_flat_in_file_size(app, database_url, tmp_path):
    token = await create_user(app.state.engine, "uploader@example.org")
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/octet-stream",
        "X-Filename": "blob.bin",
    }
    with running_service(database_url, tmp_path / "uploads") as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=300) as client:
            await _upload(client, 2 * MB, headers)  # warm up
            small_growth, small = await server.peak_growth(lambda: _upload(client, 2 * MB, headers))
            large_growth, large = await server.peak_growth(
                lambda: _upload(client, 200 * MB, headers)
            )
    assert (small["size"], large["size"]) == (2 * MB, 200 * MB)
    assert large_growth <= small_growth + SMALL_CONSTANT, (small_growth, large_growth)


async def read_through(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> int:
    """Stream a GET of `url` (a 200), discarding it; return the bytes received."""
    received = 0
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            received += len(chunk)
    return received


async def test_download_peak_is_flat_in_file_size(app, database_url, tmp_path):
    token = await create_user(app.state.engine, "downloader@example.org")
    headers = {"Authorization": f"Bearer {token}"}
    raw = {**headers, "Content-Type": "application/octet-stream", "X-Filename": "blob.bin"}
    with running_service(database_url, tmp_path / "uploads") as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=300) as client:
            small, large = [await _upload(client, size, raw) for size in (2 * MB, 200 * MB)]
            small_url, large_url = (f"/api/uploads/{u['id']}/content" for u in (small, large))
            await read_through(client, small_url, headers)  # warm up
            small_growth, small_bytes = await server.peak_growth(
                lambda: read_through(client, small_url, headers)
            )
            large_growth, large_bytes = await server.peak_growth(
                lambda: read_through(client, large_url, headers)
            )
    assert (small_bytes, large_bytes) == (2 * MB, 200 * MB)
    assert large_growth <= small_growth + SMALL_CONSTANT, (small_growth, large_growth)
