"""Garbage-collector and allocator discipline.

settle_heap() runs once start-up is done: gc.collect(), then malloc_trim(0)
(glibc only) to hand the freed pages back to the operating system, then
gc.freeze(), so the collector never scans the start-up heap again.
PeriodicCollector then runs a full collection every GC_INTERVAL_SECONDS (0
turns it off); SpikeTrimmer hands back what a burst of requests freed; and
limit_arenas() keeps glibc to MALLOC_ARENA_MAX arenas in every serving mode.

Why it is built this way: docs/design-notes.md, "memory/heap.py".
"""

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


def _load_malloc_trim() -> Callable[[int], int] | None:
    # ctypes because no maintained library exposes malloc_trim; it exists in
    # glibc only (not musl, not macOS), where this returns None.
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    malloc_trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)
    return malloc_trim


_malloc_trim = _load_malloc_trim()
# glibc's mallopt() parameter for the number of arenas (malloc.h).
M_ARENA_MAX = -8
DEFAULT_ARENAS = 2


def limit_arenas() -> None:
    """At most MALLOC_ARENA_MAX (else 2) malloc arenas, whatever started the
    process: glibc makes up to eight per core, one for each thread that
    allocates at once, and each keeps what it freed. Call before threads start."""
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is not None:  # glibc only
        mallopt(M_ARENA_MAX, int(os.environ.get("MALLOC_ARENA_MAX", DEFAULT_ARENAS)))


def release_free_memory() -> None:
    """Return freed heap pages to the operating system, where the allocator can."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def settle_heap() -> None:
    """Collect, trim and freeze: call once, when start-up is complete."""
    collected = gc.collect()
    release_free_memory()
    gc.freeze()
    logger.debug("heap settled: %d collected, %d frozen", collected, gc.get_freeze_count())


class PeriodicCollector:
    """Full collections at a fixed interval; counts them and their longest pause."""

    def __init__(self, interval_seconds: int) -> None:
        self.interval = interval_seconds
        self.collections = 0
        self.longest_pause_ms = 0.0

    def collect(self) -> None:
        started = time.perf_counter()
        gc.collect()
        pause = (time.perf_counter() - started) * 1000
        self.collections += 1
        self.longest_pause_ms = max(self.longest_pause_ms, pause)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.collect()

    def report(self) -> dict[str, Any]:
        return {
            "interval_seconds": self.interval,
            "periodic_collections": self.collections,
            "longest_periodic_pause_ms": round(self.longest_pause_ms, 3),
            "frozen_objects": gc.get_freeze_count(),
            "generation_counts": list(gc.get_count()),
            "collections_by_generation": [stats["collections"] for stats in gc.get_stats()],
        }


class SpikeTrimmer:
    """Hands memory freed after a spike back to the operating system.

    glibc keeps what a burst of large requests freed for reuse, so RSS stays
    near the peak. A probe listener: when RSS is `above` bytes over the lowest
    seen, malloc_trim(0) runs (at most once a second). If little comes back,
    the growth is live data (caches filling): the floor moves up to it, so a
    worker does not trim again and again for nothing.
    """

    def __init__(self, above: int, read_rss: Callable[[], int], every_seconds: float = 1.0):
        self.above, self.read_rss, self.every = above, read_rss, every_seconds
        self.floor = math.inf
        self.last = -math.inf
        self.trims = self.released = 0

    def observe(self, rss: int) -> None:
        self.floor = min(self.floor, rss)
        now = time.monotonic()
        if rss - self.floor < self.above or now - self.last < self.every:
            return
        self.last = now
        release_free_memory()
        after = self.read_rss()
        self.trims += 1
        self.released += max(0, rss - after)
        if rss - after < self.above // 4:
            self.floor = after
