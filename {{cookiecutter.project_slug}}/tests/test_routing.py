"""Lazy routers: imported on first use, exactly once, and always in the schema.

What a process has imported can only be seen in a fresh interpreter, so the
import checks run a small script in a subprocess.
"""

import asyncio
import importlib
import inspect
import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from {{ cookiecutter.project_slug }} import routing
from {{ cookiecutter.project_slug }}.migrations import upgrade

from tests.conftest import client_for

pytestmark = pytest.mark.anyio

PROBE = textwrap.dedent(
    """
    import importlib.util, json, sys
    from fastapi.testclient import TestClient
    from {{ cookiecutter.project_slug }}.app import create_app
    from {{ cookiecutter.project_slug }}.routing import RESOURCE_ROUTERS

    modules = {
        entry.prefix: importlib.util.resolve_name(entry.module, "{{ cookiecutter.project_slug }}")
        for entry in RESOURCE_ROUTERS
    }

    def imported():
        return sorted(prefix for prefix, name in modules.items() if name in sys.modules)

    report = {}
    app = create_app()
    report["at_start"] = imported()
    with TestClient(app) as client:
        report["unknown_status"] = client.get("/api/no-such-thing").status_code
        report["near_miss_status"] = client.get("/api/uploadsx").status_code
        report["after_unknown"] = imported()
        report["first_status"] = client.get("/api/uploads").status_code
        report["after_first"] = imported()
        if len(sys.argv) > 1:
            report["schema_paths"] = sorted(client.get(sys.argv[1]).json()["paths"])
            report["after_schema"] = imported()
    print(json.dumps(report))
    """
)


def probe(tmp_path, *args: str, **env: str) -> dict[str, Any]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}"
    upgrade(database_url)  # the app starts on a migrated database only
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


ALL_PREFIXES = sorted(entry.prefix for entry in routing.RESOURCE_ROUTERS)


def test_a_router_is_imported_by_the_first_request_under_its_prefix(tmp_path):
    report = probe(tmp_path, LAZY_ROUTERS="true")
    assert report["at_start"] == []
    # Unknown paths (and paths that only share the prefix's first letters)
    # are a 404 without importing anything.
    assert report["unknown_status"] == 404
    assert report["near_miss_status"] == 404
    assert report["after_unknown"] == []
    assert report["first_status"] == 401  # routed by the uploads router: it needs a token
    assert report["after_first"] == ["/uploads"]


def test_the_schema_lists_every_route_before_any_was_used(tmp_path):
    lazy = probe(tmp_path, "/api/openapi.json", LAZY_ROUTERS="true")
    eager = probe(tmp_path, "/api/openapi.json", LAZY_ROUTERS="false")
    assert lazy["after_schema"] == ALL_PREFIXES
    assert lazy["schema_paths"] == eager["schema_paths"]
    for entry in routing.RESOURCE_ROUTERS:
        prefix = f"/api{entry.prefix}"
        paths = lazy["schema_paths"]
        assert any(path == prefix or path.startswith(prefix + "/") for path in paths), prefix


def test_lazy_routers_false_imports_every_router_at_start(tmp_path):
    assert probe(tmp_path, LAZY_ROUTERS="false")["at_start"] == ALL_PREFIXES


async def test_concurrent_first_requests_include_the_router_once(app_with, api, monkeypatch):
    imports: list[str] = []
    real_import = routing.import_router

    def slow_import(module: str):
        # Slow enough that every request below arrives while it runs.
        imports.append(module)
        time.sleep(0.2)
        return real_import(module)

    monkeypatch.setattr(routing, "import_router", slow_import)
    async with app_with(lazy_routers=True) as app, client_for(app) as client:
        routes_before = len(app.routes)
        responses = await asyncio.gather(*(client.get(f"{api}/uploads") for _ in range(20)))
        assert [r.status_code for r in responses] == [401] * 20
        assert imports == [".routers.uploads"]
        assert len(app.routes) == routes_before + 1
        # Later requests route normally, without another import.
        assert (await client.get(f"{api}/uploads")).status_code == 401
        assert imports == [".routers.uploads"]
        assert app.state.routers.pending_for(f"{api}/uploads") is None


async def test_schema_over_http_loads_every_router(app_with, api):
    async with app_with(lazy_routers=True) as app, client_for(app) as client:
        assert app.state.routers.pending
        paths = (await client.get(f"{api}/openapi.json")).json()["paths"]
        assert not app.state.routers.pending
        assert f"{api}/uploads" in paths
        assert api + "/admin/users/{user_id}" in paths


async def test_docs_can_be_switched_off(app_with, api):
    async with app_with(docs_enabled=False) as app, client_for(app) as client:
        assert (await client.get(f"{api}/openapi.json")).status_code == 404
        assert (await client.get(f"{api}/docs")).status_code == 404
        assert (await client.get(f"{api}/health")).status_code == 200


async def test_a_router_registered_under_another_prefix_is_refused(app, settings):
    registry = routing.RouterRegistry(
        app, settings, [routing.LazyRouter("/places", ".routers.uploads")]
    )
    with pytest.raises(RuntimeError, match=r"declares prefix '/uploads'.*under '/places'"):
        registry.load_all()


def _runs_on_the_loop(call) -> bool:
    if inspect.isclass(call):
        return False  # a class dependency is called synchronously, in a thread
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = type(call).__call__  # instances such as HTTPBearer()
    return inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)


def _dependency_calls(dependant):
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _dependency_calls(dependency)


def test_every_endpoint_and_dependency_runs_on_the_event_loop():
    # FastAPI runs synchronous endpoints and dependencies in a thread pool; on
    # the request path that hand-off (and the GIL it waits for) cost 40% of
    # the list endpoint's throughput. Keep everything async.
    modules = [".routers.health", ".routers.health_memory"] + [
        e.module for e in routing.RESOURCE_ROUTERS
    ]
    offenders = []
    for module in modules:
        router = importlib.import_module(module, "{{ cookiecutter.project_slug }}").router
        for route in router.routes:
            for call in [route.endpoint, *_dependency_calls(route.dependant)]:
                if not _runs_on_the_loop(call):
                    offenders.append(f"{route.path}: {getattr(call, '__name__', call)}")
    assert offenders == []
