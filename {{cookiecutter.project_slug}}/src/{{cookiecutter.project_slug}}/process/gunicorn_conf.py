"""gunicorn configuration: several small workers forked from one preloaded app.

    {{ cookiecutter.__cli_name }} serve --workers 4          (runs gunicorn with this module)
    gunicorn --config python:{{ cookiecutter.project_slug }}.process.gunicorn_conf --bind 0.0.0.0:8000

Any value can be overridden with GUNICORN_CMD_ARGS. The master preloads the
app with every router, builds what their first requests would build
(warmup.py) and freezes its heap before each fork; each worker makes
its own engine in the lifespan, so the connection budget is
workers x (DB_POOL_SIZE + DB_MAX_OVERFLOW). Workers are recycled (max_requests)
without failing a request (recycling.py).

Why it is built this way: docs/design-notes.md, "gunicorn_conf.py".
"""

import asyncio
import contextlib
import gc
import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar, cast

from fastapi import FastAPI
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker as BaseWorker
from uvicorn_worker import UvicornWorker

from ..db import create_engine
from ..memory.heap import limit_arenas, settle_heap
from ..settings import get_settings
from ..web.logs import log_config
from .recycling import RecyclingServer
from .serving import uvicorn_options
from .warmup import warm_up

# The generated package (this module sits one level below it).
ROOT_PACKAGE = __package__.rpartition(".")[0]


def shared_dir(variable: str, prefix: str, files: str) -> Path:
    """The directory named by the environment variable `variable`, or a new
    one for this master (set in the environment the workers inherit), with
    the `files` an earlier run left there removed."""
    if not os.environ.get(variable):
        os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
    directory = Path(os.environ[variable])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(files):
        stale.unlink()
    return directory


# Where the workers write their memory histories for the dashboard
# (memory/workers.py); set before the settings are first read.
MEMORY_SHARE_DIR = shared_dir("MEMORY_SHARE_DIR", "memory-", "*.json")

# Imported by each uvicorn worker when it starts serving; found by comparing
# sys.modules before and after a worker's start.
WORKER_MODULES = (
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.on",
    "uvloop",
)

wsgi_app = f"{ROOT_PACKAGE}.app:create_preloaded_app()"


class Worker(UvicornWorker):
    """uvicorn (uvloop + httptools) inside gunicorn's process management, with
    the options `serve` gives a single server (serving.py); the uvicorn-worker
    package replaces the deprecated uvicorn.workers module."""

    # A class variable, which uvicorn-worker declares as an instance variable.
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        "loop": "auto",
        **uvicorn_options(get_settings()),
    }

    async def _serve(self) -> None:
        # uvicorn-worker's own, with the server that recycles without
        # dropping requests (recycling.py) in place of uvicorn's.
        self.config.app = self.wsgi
        server = RecyclingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


worker_class = f"{__name__}.Worker"
workers = get_settings().web_concurrency
preload_app = True
max_requests = 10_000
max_requests_jitter = 1_000
timeout = 60
# After SIGTERM a worker cancels what still runs at SHUTDOWN_GRACE_SECONDS
# (serving.py); the master kills it only if that did not end it.
graceful_timeout = get_settings().shutdown_grace_seconds + 5
keepalive = 5
# The master's own lines (workers booting, exiting) in the service's format.
logconfig_dict = log_config(get_settings())
accesslog = None
# gunicorn's control socket (for gunicornc) is a thread and a socket in the
# master, at one path per user shared by every gunicorn it runs; unused here.
control_socket_disable = True
# In the master, before any fork or thread, for gunicorn started by any means.
limit_arenas()


def when_ready(server: Arbiter) -> None:
    # In the master, after the app is preloaded, before the first fork.
    import_worker_modules()
    warm_up(cast(FastAPI, server.app.wsgi()).router)
    settle_heap()


def import_worker_modules() -> None:
    for name in WORKER_MODULES:
        with contextlib.suppress(ImportError):  # uvloop: not on every platform
            importlib.import_module(name)
    # Creating an engine imports the dialect and the driver; it connects
    # nothing, and it is disposed here: each worker creates its own after fork.
    asyncio.run(create_engine(get_settings()).dispose())


def pre_fork(_server: Arbiter, _worker: BaseWorker) -> None:
    gc.freeze()


def on_exit(_server: Arbiter) -> None:
    # The histories go with the server; the directory too, once empty.
    for history in MEMORY_SHARE_DIR.glob("*.json"):
        history.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        MEMORY_SHARE_DIR.rmdir()
{%- if cookiecutter.with_prometheus == "yes" %}


# prometheus-client's multiprocess directory, shared by the workers. It picks
# its multiprocess mode when first imported, so this runs when gunicorn reads
# this configuration, before the app (and prometheus-client with it) is
# preloaded. Files left by an earlier run would be summed in.
shared_dir("PROMETHEUS_MULTIPROC_DIR", "prometheus-", "*.db")


def child_exit(_server: Arbiter, worker: BaseWorker) -> None:
    # A worker's "live" gauges (its RSS) leave /metrics with it.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
{%- endif %}
