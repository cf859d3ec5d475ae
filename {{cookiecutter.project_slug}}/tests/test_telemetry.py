"""OpenTelemetry tracing: a span per request named by its route template,
SQL spans beneath it, OTLP export from each worker; and with no endpoint
configured, nothing loaded or installed at all.

The in-process tests read the spans from an in-memory exporter handed to
install_tracing(); the others send them to a stand-in collector on loopback.
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.web.telemetry import install_tracing

from tests.conftest import _empty_tables, client_for
from tests.helpers import create_upload, serving
from tests.test_memory_guard import FakeMemory

pytestmark = pytest.mark.anyio
PACKAGE = create_app.__module__.partition(".")[0]


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch) -> None:
    """Tracing here is what each test turns on, whatever the shell has set."""
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def app(settings, spans):
    """conftest's app, traced into `spans`."""
    app = create_app(settings)
    assert install_tracing(app, settings, span_processor=SimpleSpanProcessor(spans))
    async with app.router.lifespan_context(app):
        yield app
        await _empty_tables(app)


def status(span: ReadableSpan) -> object:
    attributes = span.attributes or {}
    return attributes.get("http.response.status_code", attributes.get("http.status_code"))


def server_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER]


def statement(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("db.statement", attributes.get("db.query.text", "")))


async def test_a_request_is_a_span_with_its_sql_beneath(client, alice, api, spans):
    await create_upload(client, api, alice)
    spans.clear()
    response = await client.get(f"{api}/uploads", headers=alice)
    assert response.status_code == 200
    (server,) = server_spans(spans)
    assert server.name == f"GET {api}/uploads"
    assert dict(server.attributes or {})["http.route"] == f"{api}/uploads"
    assert status(server) == 200
    children = [span for span in spans.get_finished_spans() if span is not server]
    sql = [span for span in children if "uploads" in statement(span)]
    assert sql, [span.name for span in children]
    for span in children:  # the statements and the waits for a connection
        assert span.context.trace_id == server.context.trace_id
        assert span.parent is not None and span.parent.span_id == server.context.span_id
        assert span.kind == SpanKind.CLIENT


async def test_spans_are_named_by_route_template_never_by_path(client, alice, api, spans):
    upload = await create_upload(client, api, alice)
    await client.get(f"{api}/uploads/{upload['id']}", headers=alice)
    await client.get(f"{api}/no-such-route")
    await client.request("BREW", f"{api}/uploads")
    named = [(span.name, status(span)) for span in server_spans(spans)]
    assert named == [
        (f"POST {api}/uploads", 201),
        ("GET " + api + "/uploads/{upload_id}", 200),
        ("GET", 404),  # no route: the method only
        ("HTTP " + api + "/uploads", 405),  # a method made up by the client is not a name
    ]


async def test_the_span_records_the_status_the_client_got(settings, spans):
    """A request shed by the memory guard, before any routing, is traced with its 503."""
    app = create_app(settings.model_copy(update={"memory_sample_interval_ms": 60_000}))
    install_tracing(app, settings, span_processor=SimpleSpanProcessor(spans))
    async with app.router.lifespan_context(app), client_for(app) as client:
        app.state.memory_probe.read_system = FakeMemory(settings.memory_threshold_percent + 1)
        app.state.memory_probe.sample()
        assert (await client.get(f"{settings.api_prefix}/uploads")).status_code == 503
    (server,) = server_spans(spans)
    assert (server.name, status(server)) == ("GET", 503)


async def test_a_caller_s_trace_is_continued(client, api, spans):
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    traceparent = f"00-{trace_id}-b7ad6b7169203331-01"
    await client.get(f"{api}/health", headers={"traceparent": traceparent})
    (server,) = server_spans(spans)
    assert server.context.trace_id == int(trace_id, 16)


async def test_excluded_requests_make_no_spans_not_even_sql(settings, spans, monkeypatch):
    monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", f"{settings.api_prefix}/health")
    app = create_app(settings)
    install_tracing(app, settings, span_processor=SimpleSpanProcessor(spans))
    async with app.router.lifespan_context(app), client_for(app) as client:
        assert (await client.get(f"{settings.api_prefix}/health/ready")).status_code == 200
        assert spans.get_finished_spans() == ()
        await client.get(f"{settings.api_prefix}/uploads")
    assert [span.name for span in server_spans(spans)] == [f"GET {settings.api_prefix}/uploads"]


@contextlib.contextmanager
def collector() -> Iterator[tuple[str, list[tuple[str, ExportTraceServiceRequest]]]]:
    """A stand-in OTLP/HTTP collector on loopback: yields its endpoint and
    the (path, request) pairs it receives."""
    received: list[tuple[str, ExportTraceServiceRequest]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = ExportTraceServiceRequest()
            request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, request))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


def exported(received) -> list[tuple[dict[str, Any], Any]]:
    """(resource attributes, span) for every span the collector received."""
    found = []
    for _, request in received:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                found += [(resource, span) for span in scope_spans.spans]
    return found


async def test_with_an_endpoint_spans_are_exported_by_the_end_of_the_lifespan(
    settings, monkeypatch
):
    with collector() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        app = create_app(settings)  # tracing installed by create_app itself
        async with app.router.lifespan_context(app), client_for(app) as client:
            assert (await client.get(f"{settings.api_prefix}/health/ready")).status_code == 200
        # The batch was queued; shutting the lifespan down flushed it.
        assert {path for path, _ in received} == {"/v1/traces"}
    spans = exported(received)
    (server,) = [span for _, span in spans if span.kind == span.SPAN_KIND_SERVER]
    assert server.name == f"GET {settings.api_prefix}/health/ready"
    assert any(span.parent_span_id == server.span_id for _, span in spans)
    assert {resource["service.name"].string_value for resource, _ in spans} == {PACKAGE}


def test_each_gunicorn_worker_exports_its_own_spans(database_url, tmp_path):
    """The tracer provider and its export thread are made in each worker
    after fork: the spans come from worker processes, never the master, and
    every one arrives (flushed as the workers stop)."""
    with collector() as (endpoint, received):
        env = {
            "DATABASE_URL": database_url,
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "process",  # process.pid
        }
        with serving(env, "--workers", "2") as (process, base):
            master = process.pid  # `serve` execs gunicorn: its master
            for _ in range(10):  # new connections: either worker may answer
                with httpx.Client(base_url=base, timeout=30) as client:
                    assert client.get("/api/health/ready").status_code == 200
        ready = [
            resource["process.pid"].int_value
            for resource, span in exported(received)
            if span.name == "GET /api/health/ready"
        ]
    assert len(ready) == 10
    assert master not in ready


def test_without_an_endpoint_nothing_is_imported_or_installed(database_url, tmp_path):
    """In a fresh process: the app is created, serves a request that reads
    the database, and neither the OpenTelemetry SDK, nor its exporter, nor
    an instrumentation was ever imported; the lifespan and the middleware
    are not telemetry's."""
    script = """
import asyncio, importlib, json, sys
import httpx

# FastAPI itself imports the OpenTelemetry API (its own tracing is off until
# a tracer provider is configured); what tracing would bring is none of it.
SDK_AND_INSTRUMENTATION = (
    "opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation"
)

app_module = importlib.import_module(sys.argv[1] + ".app")


async def main():
    app = app_module.create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            status = (await client.get("/api/health/ready")).status_code
        layers, layer = [], app.middleware_stack
        while layer is not None:
            layers.append(type(layer).__module__)
            layer = getattr(layer, "app", None)
    print(json.dumps({
        "status": status,
        "lifespan_from": app.router.lifespan_context.__module__,
        "layers": layers,
        "otel_modules": sorted(m for m in sys.modules if m.startswith(SDK_AND_INSTRUMENTATION)),
    }))


asyncio.run(main())
"""
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env.update(DATABASE_URL=database_url, UPLOAD_DIR=str(tmp_path / "uploads"))
    result = subprocess.run(
        [sys.executable, "-c", script, PACKAGE],
        env=env,
        cwd=tmp_path,  # no .env file
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    assert seen["lifespan_from"] != f"{PACKAGE}.telemetry"
    assert len(seen["layers"]) > 3 and not any("opentelemetry" in m for m in seen["layers"])
    assert seen["otel_modules"] == []
