"""Per-request memory profiling with tracemalloc (MEMORY_PROFILE=true).

A development tool, off by default and refused in production unless forced.
Profiled requests run one at a time; the response carries `X-Memory-Peak-KB`,
the peak the request allocated up to its first body bytes, and a request whose
peak over its whole life exceeds MEMORY_PROFILE_LOG_KB is logged with its top
allocation sites.

Why it is built this way: docs/design-notes.md, "memory/profile.py".
"""

import inspect
import logging
import sysconfig
import threading
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette._utils import get_route_path  # starlette.routing only imports it
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..web.path_prefix import matching_prefix

logger = logging.getLogger(__name__)

HEADER = "X-Memory-Peak-KB"
# Deep enough to reach a route's line below the library calls it makes;
# every extra frame makes each allocation and the grouping slower.
TRACE_FRAMES = 12
POLL_SECONDS = 0.002
SNAPSHOT_GROWTH = 1.25
TOP_SITES = 8
_LIBRARY_DIRS = tuple(
    {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
)
_OWN_FILES = (tracemalloc.__file__, __file__, threading.__file__)


class PeakWatcher(threading.Thread):
    """Snapshots the traced memory as it grows past `floor` bytes."""

    def __init__(self, floor: int) -> None:
        super().__init__(name="memory-profile", daemon=True)
        self.next_at = floor
        self.snapshot: tracemalloc.Snapshot | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(POLL_SECONDS):
            current = tracemalloc.get_traced_memory()[0]
            if current >= self.next_at:
                self.snapshot = tracemalloc.take_snapshot()
                self.next_at = int(current * SNAPSHOT_GROWTH)

    def stop(self) -> tracemalloc.Snapshot | None:
        self.done.set()
        self.join()
        return self.snapshot


@dataclass
class Site:
    where: str  # the innermost line of the application's own code
    size: int
    allocated_at: str  # the innermost line, often inside a library
    allocated_size: int

    def describe(self) -> str:
        line = f"{self.where}: {self.size // 1024} KB"
        if self.allocated_at != self.where:
            line += f" (most at {self.allocated_at}: {self.allocated_size // 1024} KB)"
        return line


class MemoryProfileMiddleware:
    def __init__(self, app: ASGIApp, log_kb: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.log_bytes = log_kb * 1024
        self.exempt = exempt  # prefixes of health checks and metrics: not worth tracing
        self.lock = anyio.Lock()
        self.plumbing: frozenset[str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or matching_prefix(get_route_path(scope), self.exempt) is not None
        ):
            await self.app(scope, receive, send)
            return
        if self.plumbing is None:
            self.plumbing = _middleware_files(scope)
        async with self.lock:
            if tracemalloc.is_tracing():
                # Someone else traces (PYTHONTRACEMALLOC, a test helper): their
                # numbers would be ours and stopping would break theirs.
                logger.warning("tracemalloc is already running: %s not profiled", scope["path"])
                await self.app(scope, receive, send)
                return
            await self._traced(scope, receive, send)

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        pending_start: Message | None = None

        async def send_with_peak(message: Message) -> None:
            # Hold the start until the first body bytes exist: for an
            # ordinary response the whole body is rendered by then.
            nonlocal pending_start
            if message["type"] == "http.response.start":
                pending_start = message
                return
            if pending_start is not None and message["type"] == "http.response.body":
                peak_kb = tracemalloc.get_traced_memory()[1] // 1024
                MutableHeaders(scope=pending_start).append(HEADER, str(peak_kb))
                start, pending_start = pending_start, None
                await send(start)
            await send(message)

        tracemalloc.start(TRACE_FRAMES)
        watcher = PeakWatcher(self.log_bytes)
        watcher.start()
        try:
            await self.app(scope, receive, send_with_peak)
        finally:
            snapshot = watcher.stop()
            peak = tracemalloc.get_traced_memory()[1]
            if peak > self.log_bytes:
                self._log(scope, peak, snapshot or tracemalloc.take_snapshot())
            tracemalloc.stop()

    def _log(self, scope: Scope, peak: int, snapshot: tracemalloc.Snapshot) -> None:
        sites = top_sites(snapshot, self.plumbing or frozenset())
        lines = [site.describe() for site in sites]
        logger.warning(
            "%s %s peaked at %d KB of traced memory (MEMORY_PROFILE_LOG_KB=%d); "
            "top allocation sites:\n  %s",
            scope["method"],
            scope["path"],
            peak // 1024,
            self.log_bytes // 1024,
            "\n  ".join(lines),
        )


def top_sites(snapshot: tracemalloc.Snapshot, plumbing: frozenset[str]) -> list[Site]:
    """The largest allocations grouped by the application line that caused them.

    A route that loads too much allocates inside SQLAlchemy or pydantic; the
    line worth showing is the route's own, the innermost frame outside the
    libraries and outside the middleware that every request passes through.
    """
    by_site: dict[str, int] = defaultdict(int)
    by_inner: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for stat in snapshot.statistics("traceback"):
        frames = list(reversed(stat.traceback))  # most recent first
        if frames[0].filename in _OWN_FILES:
            continue  # the profiler's own bookkeeping
        inner = _frame(frames[0])
        own = next((f for f in frames if _is_application(f.filename, plumbing)), frames[0])
        where = _frame(own)
        by_site[where] += stat.size
        by_inner[where][inner] += stat.size
    ranked = sorted(by_site.items(), key=lambda item: item[1], reverse=True)[:TOP_SITES]
    sites = []
    for where, size in ranked:
        allocated_at, allocated_size = max(by_inner[where].items(), key=lambda item: item[1])
        sites.append(Site(where, size, allocated_at, allocated_size))
    return sites


def _is_application(filename: str, plumbing: frozenset[str]) -> bool:
    return (
        not filename.startswith(_LIBRARY_DIRS)
        and filename not in plumbing
        and not filename.startswith("<")
    )


def _frame(frame: tracemalloc.Frame) -> str:
    return f"{_short(frame.filename)}:{frame.lineno}"


def _short(filename: str) -> str:
    for directory in _LIBRARY_DIRS:
        if filename.startswith(directory):
            return str(Path(filename).relative_to(directory))
    try:
        return str(Path(filename).relative_to(Path.cwd()))
    except ValueError:
        return filename


def _middleware_files(scope: Scope) -> frozenset[str]:
    """Source files of the app's middleware: frames every request passes through."""
    app = scope.get("app")
    classes = [middleware.cls for middleware in getattr(app, "user_middleware", [])]
    files = set()
    for cls in classes:
        try:
            files.add(inspect.getfile(cls))
        except TypeError:
            continue
    return frozenset(files)
