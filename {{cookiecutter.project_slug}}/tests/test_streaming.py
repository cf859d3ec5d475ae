"""Behaviour that needs a real HTTP server: a client leaving mid-download.

httpx's in-process transport buffers whole responses, so these tests run the
app under uvicorn on a loopback port and stream from it.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

import httpx
import pytest
import uvicorn

from tests.helpers import create_upload, free_port

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def serving(app):
    port = free_port()
    # The app's lifespan already runs (fixture), so uvicorn must not start it again.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def partly_read(http: httpx.AsyncClient, url: str, headers: dict[str, str]):
    """GET `url` (a 200), 64 KiB of it read (the bytes read are yielded):
    the client then stops reading, and leaving the block drops the connection."""
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        received = 0
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > 64 * 1024:
                break
        yield received


async def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def test_client_leaving_mid_download_returns_the_connection(
    app, client, make_user, api, caplog
):
    headers = await make_user("streamer@example.org")
    content = bytes(range(256)) * (8 * 4096)  # 8 MB: far more than the sockets buffer
    upload = await create_upload(client, api, headers, name="big.bin", content=content)
    pool = app.state.engine.pool
    caplog.set_level(logging.INFO)
    url = f"{api}/uploads/{upload['id']}/content"
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        async with partly_read(http, url, headers) as received:
            # Mid-stream: the file is read from disk; the connection that
            # found its row went back when the route returned.
            assert pool.checkedout() == 0
        # Leaving the block closes the connection mid-download; the server
        # still answers, and the whole file to a client that stays.
        complete = await http.get(url, headers=headers)
        assert complete.status_code == 200 and complete.content == content
    assert received < len(content)
    assert await _wait_for(lambda: pool.checkedout() == 0), pool.status()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_client_leaving_mid_upload_leaves_no_file(app, make_user, api, settings):
    headers = await make_user("leaver@example.org")
    async with serving(app) as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        # Promise a body the limit allows, then send only part of it.
        promised = settings.max_upload_size_mb << 20
        head = (
            f"POST {api}/uploads HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {headers['Authorization']}\r\n"
            "Content-Type: application/octet-stream\r\nX-Filename: half.bin\r\n"
            f"Content-Length: {promised}\r\n\r\n"
        )
        writer.write(head.encode())
        for _ in range(min(16, promised // 2 // 65536)):  # at most 1 MB, under half
            writer.write(b"\0" * 65536)
            await writer.drain()
        upload_dir = settings.upload_dir
        assert await _wait_for(lambda: any(upload_dir.iterdir()))  # a partial file exists
        writer.close()
        await writer.wait_closed()
        assert await _wait_for(lambda: not any(upload_dir.iterdir())), list(upload_dir.iterdir())
        del reader
