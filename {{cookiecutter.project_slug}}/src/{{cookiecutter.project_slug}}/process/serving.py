"""How the HTTP server is configured, the same way under `serve` and gunicorn.

The protocol (protocol.py) bounds request heads, bodies and connections with
these settings; MAX_CONNECTIONS=0 takes what the open-file limit allows.
Forwarded headers are trusted only from FORWARDED_ALLOW_IPS (empty by
default). SIGTERM ends the process within SHUTDOWN_GRACE_SECONDS, cancelling
what still runs. Every response carries nosniff and frame headers; no `server`
banner.

Why it is built this way: docs/design-notes.md, "serving.py".
"""

import logging
import resource
from typing import Any

from ..settings import Settings
from ..web.logs import log_config
from ..web.protocol import SECURITY_HEADERS, BoundedHttpToolsProtocol

logger = logging.getLogger(__name__)

# Descriptors kept for what is not a connection: the database pool, SQLite's
# files, logs, the event loop's own.
RESERVED_FILES = 64
# Raised to at most this many open files: beyond it each connection's buffers
# matter more than descriptors.
MAX_OPEN_FILES = 65536


def open_files_limit() -> int:
    """This process's open-file limit, first raised as far as it may go: the
    soft limit is often 1,024 while the hard one allows far more."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            logger.info("open-file limit stays at %d", soft)
    return MAX_OPEN_FILES if soft == resource.RLIM_INFINITY else soft


def connection_limit(settings: Settings) -> int:
    """MAX_CONNECTIONS, or half the open files left once RESERVED_FILES are
    kept: a connection may hold a file too (an upload, a download)."""
    if settings.max_connections:
        return settings.max_connections
    return max(1, (open_files_limit() - RESERVED_FILES) // 2)


def protocol_class(settings: Settings) -> type[BoundedHttpToolsProtocol]:
    """The protocol with this configuration's limits (uvicorn takes a class)."""
    limits = {
        "max_head_bytes": settings.max_header_size_kb << 10,
        "head_timeout": settings.header_timeout_seconds,
        "body_timeout": settings.body_timeout_seconds,
        "body_min_rate": settings.body_min_rate_kb << 10,
        "max_connections": connection_limit(settings),
        "max_bodies_per_client": settings.max_bodies_per_client,
        "trusted_proxies": frozenset(settings.forwarded_allow_ips),
    }
    return type("ConfiguredHttpToolsProtocol", (BoundedHttpToolsProtocol,), limits)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn Config arguments shared by `serve` and the gunicorn worker."""
    return {
        "http": protocol_class(settings),
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "server_header": False,
        "headers": SECURITY_HEADERS,
        # Logging as logs.py sets it; the app writes the access lines.
        "log_config": log_config(settings),
        "log_level": settings.log_level,
        "access_log": False,
    }
