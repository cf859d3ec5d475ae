"""uvicorn serving in the test's own event loop, on a real socket, an app
whose responses a test holds at a chosen point: what only the timing between
a response and the connection around it shows (recycling, head timeouts)."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from uvicorn import Server

# The longest a test waits for what it polls: uvicorn's server state has no
# events to wait on. A bound against hanging, not a measure.
POLL_LIMIT_SECONDS = 60


class HeldApp:
    """`/quick` answers "ok" at once; `/held-head` waits for `release` before
    its response starts, `/held-body` between its head and its body."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = {"/held-head": asyncio.Event(), "/held-body": asyncio.Event()}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path == "/held-head":
            await self._hold(path)
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if path == "/held-body":
            await self._hold(path)
        await send({"type": "http.response.body", "body": b"ok"})

    async def _hold(self, path: str) -> None:
        self.waiting[path].set()
        await self.release.wait()


@contextlib.asynccontextmanager
async def serving(server: Server) -> AsyncIterator[tuple[int, "asyncio.Task[None]"]]:
    """`server` on a free port of 127.0.0.1: (that port, the task serving)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await until(lambda: server.started or task.done())
        yield port, task
    finally:
        server.should_exit = server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        listener.close()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(POLL_LIMIT_SECONDS * 100):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never came")


async def send_request(writer: asyncio.StreamWriter, path: str, *, then: bytes = b"") -> None:
    """GET `path`, followed on the wire by `then` (a pipelined head, whole or not)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode() + then)
    await writer.drain()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return (await reader.readuntil(b"\r\n\r\n")).lower()


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """A 200 "ok" answer's head, lowercased."""
    head = await read_head(reader)
    assert head.startswith(b"http/1.1 200"), head
    assert await reader.readexactly(2) == b"ok"
    return head
