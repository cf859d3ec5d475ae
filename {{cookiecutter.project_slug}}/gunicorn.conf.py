"""gunicorn settings: several small workers sharing one preloaded app.

    gunicorn -c gunicorn.conf.py

preload_app imports the application once in the master; workers are forked
from it and share those pages copy-on-write. gc.freeze() before fork keeps
the collector from touching (and so copying) the shared objects. Each worker
opens its own database pool in the application's lifespan, after fork.
"""

import gc
import os

# Import every router now, in the master, so workers inherit them by fork.
os.environ.setdefault("LAZY_ROUTERS", "false")

wsgi_app = "{{ cookiecutter.project_slug }}.app:create_app()"
worker_class = "uvicorn_worker.UvicornWorker"
bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
preload_app = True

# Recycle workers now and then so slow leaks in any library cannot accumulate;
# jitter keeps them from restarting all at once.
max_requests = int(os.environ.get("MAX_REQUESTS", "5000"))
max_requests_jitter = int(os.environ.get("MAX_REQUESTS_JITTER", "500"))
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = "-"


def when_ready(_server) -> None:
    # Runs in the master after the app is loaded and before any fork.
    gc.collect()
    gc.freeze()
