"""Garbage-collector and allocator discipline.

After start-up a worker holds tens of thousands of long-lived objects (the
modules, classes and validators of FastAPI, pydantic and SQLAlchemy) that
will never become garbage. settle_heap() runs once start-up is done:

1. gc.collect(): frees what start-up left behind (import-time temporaries).
2. malloc_trim(0) (glibc only): hands the pages freed in step 1, and those
   left by import-time churn, back to the operating system. Without it glibc
   keeps them and the worker's RSS stays several MB higher for its lifetime.
3. gc.freeze(): moves every surviving object to a permanent generation that
   the collector never scans. Later collections then only walk objects created
   while serving, so they stay short, and under a pre-forking server they no
   longer write to (and so copy) the pages shared with the parent.

collect_periodically() then runs a full collection every GC_INTERVAL_SECONDS
(0 turns it off). CPython's own thresholds collect the oldest generation
rarely (only once it has grown by a quarter), so cyclic garbage that
survived into it (reference cycles of exceptions, tracebacks, ORM objects)
can sit there for a long time. Because the start-up heap is frozen, this
collection walks only what serving created: a few milliseconds instead of
the 100+ ms pause a full collection of the whole import graph costs.
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
