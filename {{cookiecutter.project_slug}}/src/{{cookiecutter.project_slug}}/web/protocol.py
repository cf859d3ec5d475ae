"""uvicorn's httptools protocol, bounded where the application cannot see.

Request heads: at most MAX_HEADER_SIZE_KB, within HEADER_TIMEOUT_SECONDS.
Bodies: BODY_TIMEOUT_SECONDS, then at least BODY_MIN_RATE_KB a second, and
at most MAX_BODIES_PER_CLIENT arriving at once from one address. Connections:
at most MAX_CONNECTIONS per process (by default what its open-file limit
allows). Each refusal is a JSON error written here, then the connection closes.

Why it is built this way: docs/design-notes.md, "protocol.py".
"""

import asyncio
import contextlib
import json
import socket
import struct
from collections import Counter
from typing import ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..errors import error_body

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]


def refusal(status: bytes, code: str, message: str, retry_after: int | None = None) -> bytes:
    """A whole JSON error response that closes the connection, as bytes."""
    body = json.dumps(error_body(int(status[:3]), message, code), separators=(",", ":")).encode()
    head = [
        b"HTTP/1.1 " + status,
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *(f"{name}: {value}".encode() for name, value in SECURITY_HEADERS),
    ]
    if retry_after is not None:
        head.append(b"retry-after: " + str(retry_after).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


# A scope extension whose "abort" the app may call to drop its connection at
# once, unsent bytes and all (an export whose client stopped reading: export.py). The
# server would otherwise keep the socket until the client read what is queued.
ABORT = "connection.abort"

HEAD_TOO_LARGE = (b"431 Request Header Fields Too Large", "headers_too_large")
HEAD_TOO_SLOW = (b"408 Request Timeout", "request_timeout")
BODY_TOO_SLOW = (b"408 Request Timeout", "request_timeout")
TOO_MANY_CONNECTIONS = (b"503 Service Unavailable", "service_unavailable")
TOO_MANY_BODIES = (b"429 Too Many Requests", "too_many_requests")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Bytes received outside a request body count toward the next head; a
    chunk that would go over is fed only up to the limit, so a head that ends
    in time is served and one that does not is refused before it is buffered.
    """

    max_head_bytes = 32 << 10
    head_timeout = 10.0
    body_timeout = 10.0
    body_min_rate = 16 << 10  # bytes a second
    max_connections = 1000
    max_bodies_per_client = 16
    trusted_proxies: ClassVar[frozenset[str]] = frozenset()
    # Bodies arriving per client address, across this process's connections.
    bodies_arriving: ClassVar[Counter[str]] = Counter()

    # A Transport, not any BaseTransport: uvicorn's own override says the same.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # uvicorn only calls what a Transport has, which the wrapper passes on.
        super().connection_made(cast(asyncio.Transport, LingeringTransport(transport)))
        self._head_left = self.max_head_bytes
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._arriving_from: str | None = None  # set while a body counts for its client
        self._body_received = 0
        self._body_started = 0.0
        # A refusal of the next request's head waits for the running response.
        self._deferred: tuple[bytes, str, str] | None = None
        if len(self.connections) > self.max_connections:
            message = f"More than {self.max_connections} open connections; retry shortly"
            # Closed at once: lingering would hold the descriptor this protects.
            self._refuse(*TOO_MANY_CONNECTIONS, message, retry_after=1, linger=False)
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._body_done()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # refused, or lingering: what still comes is dropped
        if not self._in_head or len(data) <= self._head_left:
            if self._in_head:
                self._head_left -= len(data)
            super().data_received(data)
            return
        fits, rest = data[: self._head_left], data[self._head_left :]
        super().data_received(fits)
        if self._in_head and not self.transport.is_closing():
            self._refuse_after_response(*HEAD_TOO_LARGE, "Request headers are over the limit")
        elif self.parser is not None and not self.transport.is_closing():
            self.data_received(rest)

    # The parser goes on through the chunk it was fed after a refusal closed
    # the connection: each callback then stops at once.

    def on_message_begin(self) -> None:
        if self.transport.is_closing():
            return
        super().on_message_begin()
        self.scope["extensions"] = {ABORT: {"abort": self._abort}}
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        if self.transport.is_closing():
            return
        self._in_head = False
        self._disarm_head_timer()
        if _has_body(self.headers) and not self._admit_body():
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.transport.is_closing():
            return
        self._body_received += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._body_done()
        if self.transport.is_closing():
            return
        super().on_message_complete()
        self._in_head, self._head_left = True, self.max_head_bytes

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deferred is not None and not self.transport.is_closing():
            self._refuse(*self._deferred)

    # ------------------------------------------------------------ heads

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A response is still being sent: the next head's clock starts over.
            self._arm_head_timer()
            return
        self._refuse(*HEAD_TOO_SLOW, "The request headers did not arrive in time")

    # ------------------------------------------------------------ bodies

    def _admit_body(self) -> bool:
        """Count the body for its client and start its clock, or refuse it."""
        client = self.client[0] if self.client else ""
        if client and client not in self.trusted_proxies:  # a proxy speaks for many
            if self.bodies_arriving[client] >= self.max_bodies_per_client:
                message = f"More than {self.max_bodies_per_client} request bodies arriving at once"
                self._refuse(*TOO_MANY_BODIES, message, retry_after=1)
                return False
            self.bodies_arriving[client] += 1
            self._arriving_from = client
        self._body_received = 0
        self._body_started = self.loop.time()
        self._body_timer = self.loop.call_at(self._body_deadline(), self._body_check)
        return True

    def _body_deadline(self) -> float:
        """BODY_TIMEOUT_SECONDS from the start, plus the time the bytes received
        may take at BODY_MIN_RATE_KB: a steady client never meets it."""
        return self._body_started + self.body_timeout + self._body_received / self.body_min_rate

    def _body_check(self) -> None:
        self._body_timer = None
        now = self.loop.time()
        if self.flow.read_paused:
            # The service is not reading (its buffer is full): not the client's delay.
            self._body_started += self.body_timeout
            self._body_timer = self.loop.call_at(now + self.body_timeout, self._body_check)
            return
        deadline = self._body_deadline()
        if now < deadline:
            self._body_timer = self.loop.call_at(deadline, self._body_check)
            return
        self._body_done()
        message = "The request body did not arrive in time"
        if self.cycle is not None and self.cycle.response_started:
            self._close_cycle()
            self.transport.close()
        else:
            self._refuse(*BODY_TOO_SLOW, message)

    def _body_done(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if self._arriving_from is not None:
            self.bodies_arriving[self._arriving_from] -= 1
            if not self.bodies_arriving[self._arriving_from]:
                del self.bodies_arriving[self._arriving_from]
            self._arriving_from = None

    # ------------------------------------------------------------ refusals

    def _refuse_after_response(self, status: bytes, code: str, message: str) -> None:
        """Refuse the next request's head, but only once the response being
        sent on this connection (if any) is whole: answers leave in order."""
        if self.cycle is not None and not self.cycle.response_complete:
            self._deferred = (status, code, message)
            self.flow.pause_reading()
        else:
            self._refuse(status, code, message)

    def _refuse(
        self,
        status: bytes,
        code: str,
        message: str,
        retry_after: int | None = None,
        linger: bool = True,
    ) -> None:
        self._disarm_head_timer()
        self._close_cycle()
        self.transport.write(refusal(status, code, message, retry_after))
        transport = cast(LingeringTransport, self.transport)
        if linger:
            transport.close()
        else:
            transport.close_now()

    def _abort(self) -> None:
        """Drop the connection now: the request sees its client gone, and the
        socket is reset rather than kept until its queued bytes are read."""
        self._close_cycle()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _close_cycle(self) -> None:
        """The request being served (if any) sees its client gone from now on:
        its reads end and nothing more it sends is written."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding"
        for name, value in headers
    )


class LingeringTransport:
    """A transport whose close() lingers, as nginx's does: the answer is sent
    and the write side shut, then what the client still sends is read and
    dropped for up to LINGER_SECONDS before the socket closes.

    Closing at once with unread bytes in the socket makes the kernel reset
    the connection, and a client still sending its body then loses the 413
    or 401 it was answered. Everything but close() is the transport's own.
    """

    LINGER_SECONDS = 2.0

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.lingering = False
        self._timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        if not self._transport.can_write_eof():
            self._transport.close()
            return
        self.lingering = True
        self._transport.write_eof()
        self._transport.resume_reading()  # read and drop, so no reset is sent
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.LINGER_SECONDS, self.close_now)

    def close_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()
