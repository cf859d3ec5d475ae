"""Prometheus metrics at /metrics: requests, latency, memory and the guard.

http_requests_total and http_request_duration_seconds are labelled by route
template ("unmatched" for paths no route matches); worker_resident_memory_bytes
(per `pid`) and memory_pressure_percent are set by the memory sampler;
memory_guard_*_total count what the guard did. Several workers share one
/metrics through prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR,
set by gunicorn_conf.py).

Why it is built this way: docs/design-notes.md, "metrics.py".
"""

import functools
import os
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from ..auth import require_operator
from ..errors import StartTracking
from ..memory.guard import MemoryGuard
from ..memory.probe import Sample
from ..routing import route_template

METRICS_PATH = "/metrics"

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"]
)


@functools.cache
def memory_gauges() -> tuple[Gauge, Gauge]:
    """(RSS, pressure), created on the first sample, in the worker: a gauge
    created in the gunicorn master at preload would be reported as one more
    live worker for as long as the master runs."""
    rss = Gauge(
        "worker_resident_memory_bytes",
        "Resident memory of each worker",
        multiprocess_mode="liveall",
    )
    pressure = Gauge(
        "memory_pressure_percent",
        "Effective memory pressure seen by the guard",
        multiprocess_mode="livemax",
    )
    return rss, pressure


GUARD = {
    name: Counter(f"memory_guard_{name}_total", description)
    for name, description in {
        "requests_shed": "Requests answered 503 because memory was above the threshold",
        "memory_errors_recovered": "MemoryErrors turned into a 503 while the worker kept serving",
        "emergency_collections": "Garbage collections forced above the critical threshold",
        "reclaims": "Collections and trims while shedding with nothing in flight",
    }.items()
}


def _registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


async def metrics(request: Request) -> Response:
    await require_operator(request)  # an administrator, or METRICS_TOKEN
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Pure ASGI: counts and times every request by its route template."""

    def __init__(self, app: ASGIApp, api_prefix: str) -> None:
        self.app = app
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        tracking = StartTracking(send)
        try:
            await self.app(scope, receive, tracking)
        finally:
            route = route_template(scope, self.api_prefix) or "unmatched"
            status = tracking.status or 500  # none started: the request failed
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


class MemoryMetrics:
    """A sampler listener: memory gauges, and the guard's counters as deltas."""

    def __init__(self, guard: MemoryGuard) -> None:
        self.guard = guard
        self.exported = guard.report()

    def __call__(self, sample: Sample) -> None:
        rss, pressure = memory_gauges()
        rss.set(sample.rss)
        pressure.set(sample.pressure)
        current = self.guard.report()
        for name, value in current.items():
            if value > self.exported[name]:
                GUARD[name].inc(value - self.exported[name])
        self.exported = current


def install_metrics(app: FastAPI, guard: MemoryGuard, api_prefix: str) -> None:
    app.add_api_route(METRICS_PATH, metrics, include_in_schema=False)
    app.add_middleware(MetricsMiddleware, api_prefix=api_prefix)
    guard.probe.listeners.append(MemoryMetrics(guard))
