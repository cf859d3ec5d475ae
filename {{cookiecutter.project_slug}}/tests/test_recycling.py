"""A worker at its request limit (recycling.py) answers every connection it
holds once more, with `Connection: close`, and never closes one under a
client that was told it may send again. In one process, on a real socket."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from uvicorn import Config

from {{ cookiecutter.project_slug }}.process.recycling import CLOSE, RecyclingServer
from {{ cookiecutter.project_slug }}.process.serving import protocol_class

pytestmark = pytest.mark.anyio


class App:
    """`/quick` answers at once; `/held-head` waits for `release` before its
    response starts, `/held-body` between its head and its body."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting: dict[str, asyncio.Event] = {
            "/held-head": asyncio.Event(),
            "/held-body": asyncio.Event(),
        }

    async def __call__(self, scope, receive, send) -> None:
        path = scope["path"]
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"2")],
        }
        if path == "/held-head":
            await self._hold(path)
        await send(start)
        if path == "/held-body":
            await self._hold(path)
        await send({"type": "http.response.body", "body": b"ok"})

    async def _hold(self, path: str) -> None:
        self.waiting[path].set()
        await self.release.wait()


@dataclass
class Running:
    server: RecyclingServer
    app: App
    port: int
    serving: "asyncio.Task[None]"


# Longer than the test could take: a worker that waited for it would not leave.
KEEP_ALIVE_SECONDS = 60


@pytest.fixture
async def recycling(settings) -> AsyncIterator[Running]:
    """A server that leaves after its first answered request."""
    app = App()
    config = Config(
        app,
        http=protocol_class(settings),
        lifespan="off",
        limit_max_requests=1,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = RecyclingServer(config)
    listener = socket.create_server(("127.0.0.1", 0))
    running = Running(
        server,
        app,
        listener.getsockname()[1],
        asyncio.create_task(server.serve(sockets=[listener])),
    )
    await _until(lambda: server.started)
    try:
        yield running
    finally:
        app.release.set()
        server.should_exit = server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await running.serving
        listener.close()


async def _until(condition: Callable[[], bool]) -> None:
    """uvicorn's server state has no events to wait on: it is polled."""
    for _ in range(KEEP_ALIVE_SECONDS * 100):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never came")


async def _request(writer: asyncio.StreamWriter, path: str) -> None:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()


async def _head(reader: asyncio.StreamReader) -> bytes:
    return (await reader.readuntil(b"\r\n\r\n")).lower()


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await _head(reader)
    assert head.startswith(b"http/1.1 200"), head
    assert await reader.readexactly(2) == b"ok"
    return head


async def test_every_connection_held_at_the_limit_is_answered_once_more_then_closed(recycling):
    server, app, port = recycling.server, recycling.app, recycling.port
    idle = await asyncio.open_connection("127.0.0.1", port)
    head_waits = await asyncio.open_connection("127.0.0.1", port)
    body_waits = await asyncio.open_connection("127.0.0.1", port)
    await _request(head_waits[1], "/held-head")
    await _request(body_waits[1], "/held-body")
    body_head = await _head(body_waits[0])  # its head left before the limit
    await app.waiting["/held-head"].wait()

    await _request(idle[1], "/quick")
    await _answer(idle[0])  # the first answered request: the limit is reached
    await _until(lambda: CLOSE in server.server_state.default_headers)
    with pytest.raises(ConnectionRefusedError):  # no new connections from now on
        await asyncio.open_connection("127.0.0.1", port)
    app.release.set()

    # Held before its head: that head says close.
    assert b"connection: close" in await _answer(head_waits[0])
    # Held after a head that promised keep-alive: the body ends normally and
    # the connection stays open for the request the client may already have
    # sent on it (closing it then would reset that request unanswered).
    assert b"connection: close" not in body_head
    assert await body_waits[0].readexactly(2) == b"ok"
    await asyncio.sleep(0.3)
    for reader, writer in (body_waits, idle):
        await _request(writer, "/quick")
        assert b"connection: close" in await _answer(reader)
        assert await reader.read() == b""  # then closed
    assert await head_waits[0].read() == b""
    for _reader, writer in (idle, head_waits, body_waits):
        writer.close()
    # Nothing left to answer: the worker leaves, long before the keep-alive
    # timeout would have closed those connections.
    await recycling.serving
