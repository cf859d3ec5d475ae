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
"""

import ctypes
import ctypes.util
import gc
import logging

logger = logging.getLogger(__name__)


def _load_malloc_trim():
    # ctypes because no maintained library exposes malloc_trim; it exists in
    # glibc only (not musl, not macOS), where this returns None.
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return getattr(libc, "malloc_trim", None)


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
