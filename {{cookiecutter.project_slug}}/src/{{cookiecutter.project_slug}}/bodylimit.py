"""Request-size limits in one pure ASGI layer for the whole application.

More than MAX_HEADER_COUNT headers is a JSON 431. MAX_BODY_SIZE_MB applies
everywhere but under the prefixes given their own limit (uploads:
MAX_UPLOAD_SIZE_MB): a Content-Length over the limit is a JSON 413 before
routing, a chunked body a 413 the moment it passes the limit.

Why it is built this way: docs/design-notes.md, "bodylimit.py".
"""

from starlette._utils import get_route_path  # starlette.routing only imports it
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body exceeds this endpoint's limit of {limit} bytes")


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, default: int, by_prefix: dict[str, int], max_headers: int
    ) -> None:
        self.app = app
        self.default = default
        self.max_headers = max_headers
        # Longest prefix first, so a nested prefix wins over its parent.
        self.by_prefix = sorted(by_prefix.items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.by_prefix:
            if path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["headers"]) > self.max_headers:
            message = f"More than {self.max_headers} request headers"
            await error_response(431, message, "headers_too_large")(scope, receive, send)
            return
        length, chunked = _framing(scope)
        if length is None and not chunked:  # no body at all
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(get_route_path(scope))
        if length is not None and length > limit:
            await error_response(413, BodyTooLarge(limit).detail)(scope, receive, send)
        elif length is not None:
            await self.app(scope, receive, send)
        else:
            await self.app(scope, _counting(receive, limit), send)


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None: none, or not a number) and whether
    the body is chunked."""
    length, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


def _counting(receive: Receive, limit: int) -> Receive:
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_within_limit
