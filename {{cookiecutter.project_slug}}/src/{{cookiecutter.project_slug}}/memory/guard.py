"""The memory guard: shed load before the OOM killer ends the worker.

Above MEMORY_THRESHOLD_PERCENT new requests get 503 with Retry-After and the
JSON error (health endpoints always pass) until pressure falls; after
MEMORY_SHED_GRACE_SECONDS of shedding, readiness fails too. Above
MEMORY_CRITICAL_PERCENT the sampler collects at once and readiness fails. A
MemoryError in a request becomes a 503 and the worker serves the next one.
MemoryGuardMiddleware is pure ASGI.

Why it is built this way: docs/design-notes.md, "memory/guard.py".
"""

import gc
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from starlette._utils import get_route_path  # starlette.routing only imports it
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import StartTracking, error_response
from ..web.path_prefix import matching_prefix
from .heap import release_free_memory
from .probe import MB, MemoryProbe, Sample

logger = logging.getLogger(__name__)

EMERGENCY_GC_SECONDS = 5.0
RECLAIM_FIRST_SECONDS = 1.0
RECLAIM_MAX_SECONDS = 60.0
RETRY_AFTER_SECONDS = 5
SHED_MESSAGE = "The service is short of memory; retry shortly."
EXHAUSTED_MESSAGE = "The service ran out of memory handling this request; retry shortly."


@dataclass
class GuardCounters:
    requests_shed: int = 0
    memory_errors_recovered: int = 0
    emergency_collections: int = 0
    reclaims: int = 0


class MemoryGuard:
    """The policy: thresholds, counters and the reaction to each sample."""

    def __init__(
        self, probe: MemoryProbe, threshold: float, critical: float, shed_grace: float
    ) -> None:
        self.probe = probe
        self.threshold = threshold
        self.critical = critical
        self.shed_grace = shed_grace
        self.counters = GuardCounters()
        self.in_flight = 0  # requests past the guard, not yet answered
        self.pressed_since: float | None = None  # when shedding began (monotonic)
        self.next_reclaim = 0.0
        self.reclaim_wait = RECLAIM_FIRST_SECONDS
        self.last_emergency = float("-inf")
        # When the last emergency collections ran (time.time()), for the dashboard.
        self.emergency_times: deque[float] = deque(maxlen=20)
        probe.listeners.append(self.react)

    def shedding(self) -> bool:
        return self.probe.latest.pressure >= self.threshold

    def shedding_seconds(self) -> float:
        return 0.0 if self.pressed_since is None else time.monotonic() - self.pressed_since

    def ready(self) -> bool:
        if self.probe.latest.pressure >= self.critical:
            return False
        return not self.shedding() or self.shedding_seconds() < self.shed_grace

    def react(self, sample: Sample) -> None:
        """Called by the sampler with each new sample (never on the request path)."""
        now = time.monotonic()
        if sample.pressure < self.threshold:
            self.pressed_since = None
            self.reclaim_wait = RECLAIM_FIRST_SECONDS
            return
        if self.pressed_since is None:
            self.pressed_since = now
            self.next_reclaim = now + RECLAIM_FIRST_SECONDS
        if sample.pressure >= self.critical:
            self._emergency(sample, now)
        elif self.in_flight == 0 and now >= self.next_reclaim:
            self._reclaim(sample, now)

    def _reclaim(self, sample: Sample, now: float) -> None:
        # Quiet, yet above the threshold: what was freed after the load may
        # still sit in the allocator's free lists, or in cycles not collected yet.
        freed = gc.collect()
        release_free_memory()
        self.counters.reclaims += 1
        self.next_reclaim = now + self.reclaim_wait
        self.reclaim_wait = min(self.reclaim_wait * 2, RECLAIM_MAX_SECONDS)
        logger.info(
            "memory pressure %.1f%% (%s) above the threshold %.1f%% with nothing in flight: "
            "collected %d objects and released free memory; next attempt in %.0f s",
            sample.pressure,
            sample.source,
            self.threshold,
            freed,
            self.next_reclaim - now,
        )

    def _emergency(self, sample: Sample, now: float) -> None:
        if now - self.last_emergency < EMERGENCY_GC_SECONDS:
            return
        self.last_emergency = now
        self.emergency_times.append(round(time.time(), 3))
        freed = gc.collect()
        release_free_memory()
        self.counters.emergency_collections += 1
        logger.warning(
            "memory pressure %.1f%% (%s) is above the critical %.1f%%: process RSS %.0f MiB; "
            "emergency collection freed %d objects; readiness fails until it falls",
            sample.pressure,
            sample.source,
            self.critical,
            sample.rss / MB,
            freed,
        )

    def report(self) -> dict[str, Any]:
        return asdict(self.counters)


def _unavailable(message: str, code: str) -> JSONResponse:
    return error_response(503, message, code, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class MemoryGuardMiddleware:
    def __init__(self, app: ASGIApp, guard: MemoryGuard, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.guard = guard
        self.exempt = exempt  # prefixes never shed: health, metrics (path_prefix.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.guard.shedding() and matching_prefix(get_route_path(scope), self.exempt) is None:
            self.guard.counters.requests_shed += 1
            await _unavailable(SHED_MESSAGE, "memory_pressure")(scope, receive, send)
            return

        tracking = StartTracking(send)
        self.guard.in_flight += 1
        try:
            await self.app(scope, receive, tracking)
        except MemoryError:
            # Leaving the except block drops the traceback, and with it the
            # frames holding whatever the request had allocated.
            pass
        else:
            return
        finally:
            self.guard.in_flight -= 1
        gc.collect()
        release_free_memory()
        self.guard.counters.memory_errors_recovered += 1
        logger.error("MemoryError while handling %s %s; recovered", scope["method"], scope["path"])
        if not tracking.started:  # otherwise the client sees the response end early
            await _unavailable(EXHAUSTED_MESSAGE, "memory_exhausted")(scope, receive, send)
