"""A worker at its request limit (recycling.py) answers every connection it
holds once more, with `Connection: close`, and never closes one under a
client that was told it may send again. In one process, on a real socket."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from uvicorn import Config

from {{ cookiecutter.project_slug }}.process.recycling import CLOSE, RecyclingServer
from {{ cookiecutter.project_slug }}.process.serving import protocol_class

from tests.in_process import HeldApp, read_answer, read_head, send_request, serving, until

pytestmark = pytest.mark.anyio

# Longer than the test could take: a worker that waited for it would not leave.
KEEP_ALIVE_SECONDS = 60


def _server(
    settings, app: HeldApp, *, keep_alive: int, grace: int | None = None
) -> RecyclingServer:
    """A server that leaves after its first answered request."""
    config = Config(
        app,
        http=protocol_class(settings),
        lifespan="off",
        limit_max_requests=1,
        log_config=None,
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=grace,
    )
    return RecyclingServer(config)


@pytest.fixture
async def recycling(
    settings,
) -> AsyncIterator[tuple[RecyclingServer, HeldApp, int, asyncio.Task[None]]]:
    app = HeldApp()
    server = _server(settings, app, keep_alive=KEEP_ALIVE_SECONDS)
    async with serving(server) as (port, task):
        try:
            yield server, app, port, task
        finally:
            app.release.set()


async def test_every_connection_held_at_the_limit_is_answered_once_more_then_closed(recycling):
    server, app, port, task = recycling
    idle = await asyncio.open_connection("127.0.0.1", port)
    head_waits = await asyncio.open_connection("127.0.0.1", port)
    body_waits = await asyncio.open_connection("127.0.0.1", port)
    await send_request(head_waits[1], "/held-head")
    await send_request(body_waits[1], "/held-body")
    body_head = await read_head(body_waits[0])  # its head left before the limit
    await app.waiting["/held-head"].wait()

    await send_request(idle[1], "/quick")
    await read_answer(idle[0])  # the first answered request: the limit is reached
    await until(lambda: CLOSE in server.server_state.default_headers)
    with pytest.raises(ConnectionRefusedError):  # no new connections from now on
        await asyncio.open_connection("127.0.0.1", port)
    app.release.set()

    # Held before its head: that head says close.
    assert b"connection: close" in await read_answer(head_waits[0])
    # Held after a head that promised keep-alive: the body ends normally and
    # the connection stays open for the request the client may already have
    # sent on it (closing it then would reset that request unanswered).
    assert b"connection: close" not in body_head
    assert await body_waits[0].readexactly(2) == b"ok"
    await asyncio.sleep(0.3)
    for reader, writer in (body_waits, idle):
        await send_request(writer, "/quick")
        assert b"connection: close" in await read_answer(reader)
        assert await reader.read() == b""  # then closed
    assert await head_waits[0].read() == b""
    for _reader, writer in (idle, head_waits, body_waits):
        writer.close()
    # Nothing left to answer: the worker leaves, long before the keep-alive
    # timeout would have closed those connections.
    await task


async def test_a_response_still_running_after_the_grace_time_is_cut_and_the_worker_leaves(settings):
    app = HeldApp()
    server = _server(settings, app, keep_alive=1, grace=1)
    async with serving(server) as (port, task):
        held = await asyncio.open_connection("127.0.0.1", port)
        await send_request(held[1], "/held-body")
        await read_head(held[0])
        quick = await asyncio.open_connection("127.0.0.1", port)
        await send_request(quick[1], "/quick")
        await read_answer(quick[0])  # the limit
        # The drain (keep-alive + 1 s), then uvicorn's grace: the held
        # response is cancelled, and the worker does not wait on it forever.
        await asyncio.wait_for(task, 60)
        assert await held[0].read() == b""
        for _reader, writer in (held, quick):
            writer.close()
