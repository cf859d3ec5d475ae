"""create_app(): settings -> lifespan (engine) -> middleware -> routers."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from .auth import TokenCache
from .breaker import RedisBreakers
from .broadcast import Invalidations
from .cache import ReadCache
from .counts import CountCache, track_writes
from .db import create_engine, create_read_sessionmaker, create_sessionmaker
from .errors import UnhandledErrorMiddleware, documented_errors, install_error_handlers
from .export import ExportSlots
from .memory.guard import MemoryGuard, MemoryGuardMiddleware
from .memory.heap import PeriodicCollector, SpikeTrimmer, settle_heap
from .memory.probe import MemoryProbe
from .memory.profile import MemoryProfileMiddleware
from .memory.workers import SharedHistory
from .partial_files import sweep_partial_files
from .passwords import Passwords
from .process.schema import schema_checked
from .ratelimit import RateLimiter
from .reads import Reader
from .routing import RESOURCE_ROUTERS, include_routers, uncompressed_paths
from .settings import Settings, get_settings
from .web.bodylimit import BodyLimitMiddleware
from .web.compression import CompressionMiddleware
from .web.head import HeadMiddleware
from .web.logs import RequestLogMiddleware
from .web.openapi import operation_ids
from .web.pages import install_docs

# Level 5 instead of the default 9: on NDJSON it is several times faster for a
# few percent more bytes. Bodies under 1 KB are not worth compressing.
GZIP_LEVEL = 5
GZIP_MINIMUM_BYTES = 1024
# RSS this far over its lowest has freed memory handed back (memory/heap.py).
TRIM_ABOVE_BYTES = 8 << 20


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Created here, not at import: under a pre-forking server each worker
    # opens its own pool after fork.
    settings: Settings = app.state.settings
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    sweep_partial_files(settings.upload_dir)
    engine = create_engine(settings)
    app.state.engine = engine
    app.state.schema_checked = await schema_checked(engine)
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.read_sessionmaker = create_read_sessionmaker(engine, settings)
    counts = CountCache(settings.count_cache_seconds, settings.cache_max_entries)
    app.state.reader = Reader(engine, counts, settings)
    app.state.token_cache = TokenCache(settings.auth_cache_seconds, settings.auth_cache_max_entries)
    app.state.cache = ReadCache(settings.cache_ttl_seconds, settings.cache_max_entries)
    breakers = RedisBreakers(settings)  # Redis out of reach: no request waits for it
    app.state.rate_limiter = RateLimiter(settings, breakers.of(settings.rate_limit_storage))
    app.state.invalidations = invalidations = Invalidations(
        breakers.of(settings.broadcast_redis),
        {
            "token": app.state.token_cache.forget,
            "user": app.state.token_cache.forget_user,
            "table": counts.written,
            "cache": lambda _: app.state.cache.clear(),
        },
        caches=(app.state.token_cache, counts, app.state.cache),
    )
    track_writes(engine, counts, committed=invalidations.table_written)
    app.state.export_slots = ExportSlots(settings.max_concurrent_exports)
    app.state.passwords = Passwords(settings)
    await app.state.passwords.prepare()
    settle_heap()
    app.state.memory_probe.restart()  # under a pre-forking server: this worker's own samples
    shared = app.state.shared_history
    if shared is not None:
        shared.start()
    tasks = [
        asyncio.create_task(app.state.memory_probe.run()),
        asyncio.create_task(invalidations.listen()),
        asyncio.create_task(breakers.probe()),
    ]
    if settings.gc_interval_seconds:
        tasks.append(asyncio.create_task(app.state.gc.run()))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await invalidations.close()
        await engine.dispose()
        if shared is not None:
            shared.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    docs = settings.docs_enabled
    openapi_url = f"{settings.api_prefix}/openapi.json"
    app = FastAPI(
        # The project name, JSON-escaped (with " as \u0022): a valid literal whatever it holds.
        title={{ cookiecutter.project_name | tojson | replace('\\"', '\\u0022') }},
        lifespan=lifespan,
        openapi_url=openapi_url if docs else None,
        docs_url=None,  # served by pages.py, with a Content-Security-Policy
        redoc_url=None,
        # What any route may answer, whatever it does (resource routes add theirs).
        responses=documented_errors(431, 500),
        generate_unique_id_function=operation_ids(
            settings.api_prefix, [*(entry.prefix for entry in RESOURCE_ROUTERS), "/health"]
        ),
    )
    app.state.settings = settings
    if docs:
        install_docs(app, f"{settings.api_prefix}/docs", openapi_url)
    install_error_handlers(app)
    app.add_middleware(
        CompressionMiddleware,
        uncompressed=uncompressed_paths(settings.api_prefix),
        minimum_size=GZIP_MINIMUM_BYTES,
        compresslevel=GZIP_LEVEL,
    )
    # Outside compression: a HEAD gets the headers its GET gets (Content-Encoding).
    app.add_middleware(HeadMiddleware)
    if settings.cors_origins:  # none by default: browsers on other origins get no access
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Filename"],
            max_age=600,
        )
    app.state.routers = include_routers(app, settings)
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_body_size_mb << 20,
        parsed=min(settings.max_json_body_kb << 10, settings.max_body_size_mb << 20),
        by_prefix=app.state.routers.body_limits,
        max_headers=settings.max_header_count,
        max_values=settings.max_json_values,
        max_depth=settings.max_json_depth,
    )
    guard = _memory_guard(app, settings)
    exempt = [f"{settings.api_prefix}/health"]
{%- if cookiecutter.with_prometheus == "yes" %}
    from .web.metrics import METRICS_PATH, install_metrics

    install_metrics(app, guard, settings.api_prefix)
    exempt.append(METRICS_PATH)
{%- endif %}
    if settings.memory_profile:
        # Outside the rest, so a request's peak includes compression and errors.
        app.add_middleware(
            MemoryProfileMiddleware, log_kb=settings.memory_profile_log_kb, exempt=tuple(exempt)
        )
    # Outermost but one: a request shed for lack of memory costs as little as possible.
    app.add_middleware(MemoryGuardMiddleware, guard=guard, exempt=tuple(exempt))
    app.add_middleware(UnhandledErrorMiddleware)
    # Outermost: every response has its request id, every request its access line.
    app.add_middleware(RequestLogMiddleware, api_prefix=settings.api_prefix)
{%- if cookiecutter.with_opentelemetry == "yes" %}
    from .web.telemetry import install_tracing

    # Only with OTEL_EXPORTER_OTLP_ENDPOINT set; each worker's lifespan then
    # starts its own tracing, outermost (telemetry.py).
    install_tracing(app, settings)
{%- endif %}
    return app


def _memory_guard(app: FastAPI, settings: Settings) -> MemoryGuard:
    """The probe, the guard and the periodic collector, kept on app.state.

    Their background tasks start in the lifespan, in each worker."""
    probe = MemoryProbe(settings.memory_sample_interval_ms, settings.memory_limit_mb)
    app.state.memory_probe = probe
    app.state.memory_guard = guard = MemoryGuard(
        probe,
        settings.memory_threshold_percent,
        settings.memory_critical_percent,
        settings.memory_shed_grace_seconds,
    )
    app.state.gc = PeriodicCollector(settings.gc_interval_seconds)
    trimmer = SpikeTrimmer(TRIM_ABOVE_BYTES, probe.read_process_rss)
    probe.listeners.append(lambda sample: trimmer.observe(sample.rss))
    app.state.spike_trimmer = trimmer
    directory = settings.memory_share_dir
    app.state.shared_history = directory and SharedHistory(directory, probe, guard)
    return guard


def create_preloaded_app() -> FastAPI:
    """The app a pre-forking server imports once, before starting its workers.

    Every router is imported now, whatever LAZY_ROUTERS says, so that the
    workers inherit them by fork instead of each importing them on first use.
    """
    return create_app(get_settings().model_copy(update={"lazy_routers": False}))
