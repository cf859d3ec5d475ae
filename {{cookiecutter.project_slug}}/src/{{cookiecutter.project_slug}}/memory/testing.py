"""Memory checks for tests: keep new routes as lean as the scaffolds.

    with max_memory(kb=2048):  # fails if the block's allocations peak above 2 MiB
        response = await client.get("/api/things")
    await assert_no_leak(lambda: client.get("/api/things"))  # fails if memory grows

Both use tracemalloc in the test's process: run the app in-process (httpx's
ASGITransport), and read streamed responses with `drain()`.

Why it is built this way: docs/design-notes.md, "memory/testing.py".
"""

import gc
import itertools
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio
from starlette.types import ASGIApp, Message

KB = 1024
# assert_no_leak compares the low points of this many parts of its rounds.
SEGMENTS = 5


@dataclass
class MemoryUse:
    peak_kb: float = 0.0


@contextmanager
def max_memory(kb: float) -> Iterator[MemoryUse]:
    """Fail when the block's allocations peak above `kb` KiB.

    The peak counts what the block allocated and still held at its highest
    point, whether or not it was freed afterwards. Do not nest: tracemalloc
    has one peak per process.
    """
    use = MemoryUse()
    owned = not tracemalloc.is_tracing()
    if owned:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield use
        use.peak_kb = (tracemalloc.get_traced_memory()[1] - base) / KB
    finally:
        if owned:
            tracemalloc.stop()
    if use.peak_kb > kb:
        raise AssertionError(f"the block peaked at {use.peak_kb:.0f} KiB, above the {kb} KiB bound")


@dataclass
class LeakReport:
    bytes_per_call: float  # growth of the low points, per call
    samples: list[int] = field(default_factory=list)  # traced bytes after each round


async def assert_no_leak(
    call: Callable[[], Awaitable[object]],
    *,
    warmup: int = 200,
    rounds: int = 15,
    calls_per_round: int = 20,
    max_bytes_per_call: float = 128,
) -> LeakReport:
    """Fail when memory keeps growing with the number of calls to `call()`.

    After `warmup` calls (caches fill, statements compile), it runs `rounds`
    rounds and reads the traced memory after a full collection at the end of
    each. Memory in a healthy service moves in a sawtooth (buffers that fill
    and are released every so many calls) with an occasional one-off step (a
    dict that resizes: weakref registries of the driver and the ORM, which
    hold as many entries as are alive at the peak); a leak raises the low
    points again and again. So the rounds are cut in SEGMENTS parts, and the
    growth is the second smallest of the rises of the lowest reading from one
    part to the next, per call in between: steps raise one or two of them, a
    leak all; and a growth above the bound is measured once more before it
    fails, as a leak grows again where steps do not. Bounded caches that fill
    slowly (SQLite keeps a statement cache per pooled connection) grow by
    tens of bytes per call for a while: the bound sits above that, so a leak
    of a couple of hundred bytes per call or more is caught in 500 calls.
    """
    owned = not tracemalloc.is_tracing()
    if owned:
        tracemalloc.start()
    try:
        # Traced from the warm-up on: an entry that replaces one in a cache
        # must not count as growth because the old one was never traced.
        for _ in range(warmup):
            await call()
        # A second measurement when the first grew: two one-off steps in one
        # (dicts of the driver and the ORM resizing, whose size comes from
        # what earlier tests left alive) do not come back; a leak does.
        for _ in range(2):
            report = await _growth(call, rounds, calls_per_round)
            if report.bytes_per_call <= max_bytes_per_call:
                return report
    finally:
        if owned:
            tracemalloc.stop()
    raise AssertionError(
        f"memory grows by {report.bytes_per_call:.0f} bytes per call "
        f"(bound {max_bytes_per_call}), twice; traced bytes after each round: {report.samples}"
    )


async def _growth(
    call: Callable[[], Awaitable[object]], rounds: int, calls_per_round: int
) -> LeakReport:
    samples = []
    for _ in range(rounds):
        for _ in range(calls_per_round):
            await call()
        gc.collect()
        samples.append(tracemalloc.get_traced_memory()[0])
    part = rounds // SEGMENTS
    lows = [min(samples[i * part : (i + 1) * part]) for i in range(SEGMENTS)]
    rises = sorted(later - earlier for earlier, later in itertools.pairwise(lows))
    return LeakReport(rises[1] / (part * calls_per_round), samples)


async def drain(app: ASGIApp, url: str, headers: dict[str, str] | None = None) -> tuple[int, int]:
    """GET `url` from the app and drop the body as it streams: (status, body bytes).

    Unlike httpx's ASGITransport, which collects the body in memory, this
    holds one chunk at a time, so max_memory() measures the route alone.
    """
    parts = urlsplit(url)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "root_path": "",
        "query_string": parts.query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    status, size, asked = 0, 0, False
    finished = anyio.Event()

    async def receive() -> Message:
        # The empty request body, then (like a server) wait for the client to
        # leave: streaming responses listen for it while they send.
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                finished.set()

    await app(scope, receive, send)
    return status, size
