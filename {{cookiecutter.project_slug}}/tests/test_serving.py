"""Serving with several workers: gunicorn, a preloaded app, a frozen heap."""

import contextlib
import gc
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route, Router
from uvicorn_worker import UvicornWorker

from {{ cookiecutter.project_slug }}.memory.heap import settle_heap
from {{ cookiecutter.project_slug }}.process.warmup import warm_up

from tests.helpers import serving

pytestmark = pytest.mark.anyio
CONFIG_MODULE = "{{ cookiecutter.project_slug }}.process.gunicorn_conf"
needs_proc = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc")


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:  # the process ended while we looked
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(fields["Pid"]))
    return found


@pytest.fixture
def gunicorn_conf(monkeypatch, tmp_path):
    """The configuration module, imported afresh. Importing it prepares the
    environment for gunicorn (PROMETHEUS_MULTIPROC_DIR, with Prometheus);
    monkeypatch puts the environment back afterwards."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))
    monkeypatch.delitem(sys.modules, CONFIG_MODULE, raising=False)
    return importlib.import_module(CONFIG_MODULE)


def test_gunicorn_configuration(gunicorn_conf):
    assert gunicorn_conf.preload_app is True
    # uvicorn-worker's class, with the options `serve` gives a single server.
    assert gunicorn_conf.worker_class == f"{CONFIG_MODULE}.Worker"
    assert issubclass(gunicorn_conf.Worker, UvicornWorker)
    assert gunicorn_conf.Worker.CONFIG_KWARGS["http"].max_head_bytes > 0
    assert (
        gunicorn_conf.graceful_timeout
        > gunicorn_conf.Worker.CONFIG_KWARGS["timeout_graceful_shutdown"]
    )
    assert gunicorn_conf.wsgi_app.endswith(".app:create_preloaded_app()")
    assert gunicorn_conf.max_requests > 0
    assert 0 < gunicorn_conf.max_requests_jitter < gunicorn_conf.max_requests
    assert gunicorn_conf.graceful_timeout > 0
    assert gunicorn_conf.control_socket_disable is True


def test_gunicorn_accepts_the_configuration_and_loads_the_app(tmp_path):
    # --check-config makes gunicorn load the configuration and the app, then exit.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config=python:{{ cookiecutter.project_slug }}.process.gunicorn_conf",
            "--check-config",
        ],
        env={**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_preloaded_app_imports_every_router_and_opens_no_pool(tmp_path):
    script = textwrap.dedent(
        """
        import importlib.util, json, sys
        from {{ cookiecutter.project_slug }}.app import create_preloaded_app
        from {{ cookiecutter.project_slug }}.routing import RESOURCE_ROUTERS

        app = create_preloaded_app()
        names = [
            importlib.util.resolve_name(e.module, "{{ cookiecutter.project_slug }}")
            for e in RESOURCE_ROUTERS
        ]
        print(json.dumps({
            "imported": all(name in sys.modules for name in names),
            "engine": hasattr(app.state, "engine"),
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        # LAZY_ROUTERS=true in the environment: the preloaded app ignores it.
        env={**os.environ, "LAZY_ROUTERS": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # The engine (and its pool) belongs to each worker: created by the lifespan, after fork.
    assert json.loads(result.stdout) == {"imported": True, "engine": False}


FIRST_REQUEST = """
import asyncio, gc, sys, tracemalloc
import httpx
from {{ cookiecutter.project_slug }}.app import create_preloaded_app
from {{ cookiecutter.project_slug }}.process.warmup import warm_up


async def first_request(app):
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            response = await client.get("/api/users/me")
            gc.collect()
            assert response.status_code == 401, response.text
            return tracemalloc.get_traced_memory()[0] - before


app = create_preloaded_app()
if sys.argv[1] == "warm":
    warm_up(app.router)
tracemalloc.start()
print(asyncio.run(first_request(app)))
"""


def first_request_bytes(database_url: str, mode: str) -> int:
    """What the first request to a route allocates and keeps, in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", FIRST_REQUEST, mode],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_warm_up_builds_what_a_first_request_would_build(database_url):
    # Cold, the first request builds the routes of every router it walks
    # through (about a megabyte); after the master's warm-up, almost nothing.
    cold = first_request_bytes(database_url, "cold")
    warm = first_request_bytes(database_url, "warm")
    assert warm < cold / 4, (warm, cold)


def test_warm_up_runs_no_endpoint():
    calls = []

    async def endpoint(scope, receive, send):  # behind a catch-all route
        calls.append(scope["path"])

    router = Router([Route("/{path:path}", endpoint)])
    warm_up(router)  # raises unless the answer is a 404
    assert calls == []


def test_heap_is_frozen_before_fork_and_after_start_up(gunicorn_conf):
    gc.unfreeze()
    try:
        gunicorn_conf.pre_fork(None, None)
        assert gc.get_freeze_count() > 0
        gc.unfreeze()
        settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def workers_of(master: int, count: int, seconds: float = 30) -> list[int]:
    """The master's workers, once there are `count` of them: on a busy
    machine the first may answer before the master has forked the next."""
    deadline = time.monotonic() + seconds
    while len(found := children(master)) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


@needs_proc
@pytest.mark.slow
async def test_serve_with_several_workers_runs_gunicorn(database_url, alice, tmp_path):
    env = {"DATABASE_URL": database_url, "UPLOAD_DIR": str(tmp_path / "uploads")}
    log = tmp_path / "serve.log"
    with serving(env, "--workers", "2", output=log) as (master, base):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            assert (await client.get("/api/health/ready")).status_code == 200
            for _ in range(6):  # spread over both workers
                response = await client.get("/api/uploads", headers=alice)
                assert response.status_code == 200, response.text
        assert len(workers_of(master.pid, 2)) == 2, log.read_text()
        # None was restarted: each booted once.
        assert log.read_text().count("Booting worker") == 2, log.read_text()
        # glibc's arenas are bounded in every process (memory/heap.py).
        for pid in [master.pid, *workers_of(master.pid, 2)]:
            assert b"MALLOC_ARENA_MAX=2\0" in environment_of(pid)
        # Graceful stop: the master ends its workers and exits cleanly.
        master.send_signal(signal.SIGTERM)
        assert master.wait(timeout=60) == 0


def sockets(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed while we looked
            if (target := os.readlink(fd)).startswith("socket:"):
                found.add(target)
    return found


def environment_of(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@needs_proc
@pytest.mark.slow
async def test_workers_inherit_nothing_open_but_the_listener(database_url, alice, tmp_path):
    # The master loads the app, warms it up and prepares the database
    # dialect, but opens no connection and starts no thread for the workers
    # to inherit: its only socket is the one they all listen on.
    env = {"DATABASE_URL": database_url, "UPLOAD_DIR": str(tmp_path / "uploads")}
    with serving(env, "--workers", "2") as (master, base):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(6):  # each worker opens its own pool
                response = await client.get("/api/uploads", headers=alice)
                assert response.status_code == 200, response.text
        assert threads(master.pid) == 1
        listener = sockets(master.pid)
        assert len(listener) == 1
        for worker in workers_of(master.pid, 2):
            assert sockets(worker) & listener == listener
            assert len(sockets(worker)) > 1  # its own: the event loop's, the pool's
