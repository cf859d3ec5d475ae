"""Logs you can follow: one line per request, a request id on every line.

LOG_FORMAT=json (the container's default) writes one JSON object per line,
text plain lines. A request's id (its X-Request-ID when well-formed, else a
new one) is sent back in X-Request-ID and put into JSON error bodies (errors.py)
and every log record. The app writes the access line (logger `<package>.access`, INFO).

Why it is built this way: docs/design-notes.md, "logs.py".
"""

import logging
import time
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import StartTracking
from ..routing import route_template
from ..settings import Settings
from .request_ids import REQUEST_ID, request_id_of

# The generated package (this module sits one level below it).
ROOT_PACKAGE = __package__.rpartition(".")[0]

access_logger = logging.getLogger(f"{ROOT_PACKAGE}.access")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (`missing` outside a request)."""

    def __init__(self, missing: str | None = None) -> None:
        super().__init__()
        self.missing = missing

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or self.missing
        return True


class RequestLogMiddleware:
    """Outermost layer: the request id, then one access line once the
    response is over (or the request failed or was abandoned)."""

    def __init__(self, app: ASGIApp, api_prefix: str) -> None:
        self.app = app
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id)
        tracking = StartTracking(send, [(b"x-request-id", request_id.encode())])
        started = time.perf_counter()
        try:
            await self.app(scope, receive, tracking)
        finally:
            if access_logger.isEnabledFor(logging.INFO):
                route = route_template(scope, self.api_prefix)
                seconds = time.perf_counter() - started
                _log_access(scope, route, tracking.status, seconds, request_id)
            REQUEST_ID.reset(token)


def _log_access(
    scope: Scope, route: str | None, status: int, seconds: float, request_id: str
) -> None:
    client = scope.get("client")
    fields = {
        "method": scope["method"],
        "route": route,
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "client": client[0] if client else None,
        "request_id": request_id,
    }
    access_logger.info(
        "%s %s %s %.1f ms", fields["method"], fields["path"], status, seconds * 1000, extra=fields
    )


def log_config(settings: Settings) -> dict[str, Any]:
    """A logging.dictConfig for `serve` (uvicorn) and gunicorn alike: every
    logger writes to stdout through one handler, in LOG_FORMAT."""
    json_lines = settings.log_format == "json"
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.orjson.OrjsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
            # uvicorn's copy of each message with terminal colours.
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
        }
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    quiet = {"handlers": [], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter, "missing": None if json_lines else "-"}},
        "formatters": {"default": formatter},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"level": settings.log_level.upper(), "handlers": ["stdout"]},
        "loggers": {
            # The servers' own loggers go through the root's handler; their
            # access logs are replaced by the app's (RequestLogMiddleware).
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": quiet,
            "gunicorn.error": {"handlers": [], "propagate": True},
            "gunicorn.access": quiet,
        },
    }
