"""OpenTelemetry tracing: a span per request, a span per SQL statement beneath it.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
is set; off, install_tracing() returns at once and imports no SDK, exporter or
instrumentation. On, the lifespan gives each worker its own tracer provider and
OTLP/HTTP exporter, wraps the app (outermost) and instruments the engine.
Request spans are named `METHOD /route/{template}`; the standard OTEL_* variables
apply (OTEL_SERVICE_NAME: the package name by default).

Why it is built this way: docs/design-notes.md, "telemetry.py".
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..routing import route_template
from ..settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# Anything else is named "HTTP": a client must not be able to make span names up.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


def tracing_configured() -> bool:
    """An OTLP endpoint is set, and the SDK is not turned off (OTEL_SDK_DISABLED)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def install_tracing(
    app: FastAPI, settings: Settings, span_processor: "SpanProcessor | None" = None
) -> bool:
    """Trace `app` from its lifespan on, when configured; True if so.

    span_processor replaces the OTLP export (and turns tracing on whatever
    the environment says): how the tests read the spans.
    """
    if span_processor is None and not tracing_configured():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.util.http import get_excluded_urls

    untraced_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def traced_lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with untraced_lifespan(app):  # the engine exists from here on
            service = os.environ.get("OTEL_SERVICE_NAME") or __name__.partition(".")[0]
            provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
            provider.add_span_processor(span_processor or BatchSpanProcessor(OTLPSpanExporter()))
            # Under a server the middleware stack is built by now (the
            # lifespan runs through it): the traced one replaces it.
            untraced = app.middleware_stack or app.build_middleware_stack()
            app.middleware_stack = OpenTelemetryMiddleware(
                RouteSpanNames(untraced, settings.api_prefix),
                excluded_urls=get_excluded_urls("ASGI"),
                default_span_details=_until_routed,
                tracer_provider=provider,
                exclude_spans=["receive", "send"],  # one span per request, not per message
            )
            sql = SQLAlchemyInstrumentor()
            engine = app.state.engine.sync_engine
            # skip_dep_check: its declared range stops below SQLAlchemy 2.1, whose
            # cursor events it uses are unchanged (test_telemetry.py checks the spans).
            sql.instrument(engine=engine, tracer_provider=provider, skip_dep_check=True)
            try:
                yield
            finally:
                sql.uninstrument()
                app.middleware_stack = untraced
                provider.shutdown()  # exports what is still queued

    app.router.lifespan_context = traced_lifespan
    return True


def span_name(scope: Scope, template: str | None) -> str:
    method = scope.get("method", "")
    method = method if method in METHODS else "HTTP"
    return f"{method} {template}" if template else method


class RouteSpanNames:
    """Pure ASGI, inside OpenTelemetry's middleware: names the request's span
    after its route template once routed (when the response starts, before
    the span ends). A request with no span (OTEL_PYTHON_EXCLUDED_URLS) runs
    with instrumentation suppressed, so its SQL does not start traces."""

    def __init__(self, app: ASGIApp, api_prefix: str) -> None:
        from opentelemetry import trace
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        self.app = app
        self.api_prefix = api_prefix
        self.current_span = trace.get_current_span
        self.suppress_instrumentation = suppress_instrumentation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        span = self.current_span()
        if not span.get_span_context().is_valid:
            with self.suppress_instrumentation():
                await self.app(scope, receive, send)
            return

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                template = route_template(scope, self.api_prefix)
                span.update_name(span_name(scope, template))
                if template:
                    span.set_attribute("http.route", template)
            await send(message)

        await self.app(scope, receive, send_named)


def _until_routed(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span's name and extra attributes when it starts: the method only."""
    return span_name(scope, None), {}
