"""How the HTTP server is configured, the same way under `serve` and gunicorn.

A request head over MAX_HEADER_SIZE_KB gets a 431, one not finished within
HEADER_TIMEOUT_SECONDS a 408, and the connection is closed. Forwarded headers
are trusted only from FORWARDED_ALLOW_IPS (empty by default). SIGTERM ends the
process within SHUTDOWN_GRACE_SECONDS, cancelling what still runs. Every
response carries nosniff and frame headers; no `server` banner.

Why it is built this way: docs/design-notes.md, "serving.py".
"""

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import error_body
from .logs import log_config
from .settings import Settings

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]


def _refusal(status: bytes, code: str, message: str) -> bytes:
    body = json.dumps(error_body(int(status[:3]), message, code), separators=(",", ":")).encode()
    head = [
        b"HTTP/1.1 " + status,
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *(f"{name}: {value}".encode() for name, value in SECURITY_HEADERS),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time limit on request heads.

    Bytes received outside a request body count toward the next head; a chunk
    that would go over is fed only up to the limit, so a head that ends in
    time is served and one that does not is refused before it is buffered.
    """

    max_head_bytes = 32 << 10
    head_timeout = 10.0

    # A Transport, not any BaseTransport: uvicorn's own override says the same.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_left = self.max_head_bytes
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head or len(data) <= self._head_left:
            if self._in_head:
                self._head_left -= len(data)
            super().data_received(data)
            return
        fits, rest = data[: self._head_left], data[self._head_left :]
        super().data_received(fits)
        if self._in_head and not self.transport.is_closing():
            self._refuse(b"431 Request Header Fields Too Large", "headers_too_large", _TOO_LARGE)
        elif self.parser is not None and not self.transport.is_closing():
            self.data_received(rest)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_left = True, self.max_head_bytes

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        if self._in_head and not self.transport.is_closing():
            self._refuse(b"408 Request Timeout", "request_timeout", _TOO_SLOW)

    def _refuse(self, status: bytes, code: str, message: str) -> None:
        self._disarm_head_timer()
        self.transport.write(_refusal(status, code, message))
        self.transport.close()


_TOO_LARGE = "Request headers are over the limit"
_TOO_SLOW = "The request headers did not arrive in time"


def protocol_class(settings: Settings) -> type[BoundedHttpToolsProtocol]:
    """The protocol with this configuration's limits (uvicorn takes a class)."""
    limits = {
        "max_head_bytes": settings.max_header_size_kb << 10,
        "head_timeout": settings.header_timeout_seconds,
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
