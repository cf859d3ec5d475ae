"""Garbage-collector and allocator discipline.

settle_heap() runs once start-up is done: gc.collect(), then malloc_trim(0)
(glibc only) to hand the freed pages back to the operating system, then
gc.freeze(), so the collector never scans the start-up heap again.
collect_periodically() then runs a full collection every GC_INTERVAL_SECONDS
(0 turns it off); it walks only what serving created.

Why it is built this way: docs/design-notes.md, "memory/heap.py".
"""

import asyncio
import ctypes
import ctypes.util
import gc
import logging
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
