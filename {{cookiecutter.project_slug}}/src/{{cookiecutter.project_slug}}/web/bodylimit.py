"""Request-size limits in one pure ASGI layer for the whole application.

More than MAX_HEADER_COUNT headers is a JSON 431. Bodies the service parses
(JSON, forms) may be MAX_JSON_BODY_KB and hold MAX_JSON_VALUES values nested
MAX_JSON_DEPTH deep; other bodies MAX_BODY_SIZE_MB; a prefix given its own
limit (uploads: MAX_UPLOAD_SIZE_MB) that instead. A Content-Length over the
limit is a JSON 413 before routing, a chunked body one the moment it passes.

Why it is built this way: docs/design-notes.md, "bodylimit.py".
"""

from starlette._utils import get_route_path  # starlette.routing only imports it
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import error_response
from .before_body import admitted_first
from .json_shape import JsonShape
from .path_prefix import matching_prefix

# A refused body is not read: the connection closes, rather than waiting
# for (or reading as the next request) whatever the client still sends.
CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    code = "content_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body exceeds this endpoint's limit of {limit} bytes", CLOSE)


class BodyTooComplex(HTTPException):
    code = "json_too_complex"

    def __init__(self, problem: str) -> None:
        super().__init__(413, problem)


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int,
        parsed: int,
        by_prefix: dict[str, int],
        max_headers: int,
        max_values: int,
        max_depth: int,
    ) -> None:
        self.app = app
        self.default, self.parsed = default, parsed
        self.max_headers = max_headers
        self.max_values, self.max_depth = max_values, max_depth
        # Longest prefix first, so a nested prefix wins over its parent.
        self.by_prefix = dict(sorted(by_prefix.items(), key=lambda item: -len(item[0])))

    def limit_for(self, path: str, media: bytes) -> int:
        prefix = matching_prefix(path, self.by_prefix)
        if prefix is not None:
            return self.by_prefix[prefix]
        return self.parsed if media in PARSED or media.endswith(b"+json") else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["headers"]) > self.max_headers:
            message = f"More than {self.max_headers} request headers"
            await error_response(431, message, "headers_too_large")(scope, receive, send)
            return
        length, chunked, media = _framing(scope)
        if length is None and not chunked:  # no body at all
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(get_route_path(scope), media)
        if length is not None and length > limit:
            error = BodyTooLarge(limit)
            await error_response(413, error.detail, error.code, CLOSE)(scope, receive, send)
            return
        shape = None
        if media == JSON or media.endswith(b"+json"):
            shape = JsonShape(self.max_values, self.max_depth)
        if length is None or shape is not None:  # the server delivers no more than declared
            receive = _bounded(receive, limit, shape)
        # What refuses the request anyway runs before any of the body is read.
        await self.app(scope, admitted_first(scope, receive), send)


JSON = b"application/json"
PARSED = {JSON, b"application/x-www-form-urlencoded", b"multipart/form-data"}


def _framing(scope: Scope) -> tuple[int | None, bool, bytes]:
    """The declared Content-Length (None: none, or not a number), whether the
    body is chunked, and its media type (lower case, parameters dropped)."""
    length, chunked, media = None, False, b""
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"content-type":
            media = value.partition(b";")[0].strip().lower()
    return length, chunked, media


def _bounded(receive: Receive, limit: int, shape: JsonShape | None) -> Receive:
    """`receive`, refusing a body over `limit` bytes or, for JSON, over the
    shape's bounds: checked once the whole body is in, before anything parses it."""
    received = 0
    chunks: list[bytes] = []  # the same bytes objects the reader keeps: no copy

    async def receive_within_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit)
        if shape is not None:
            shape.add(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                problem = shape.problem(chunks)
                chunks.clear()
                if problem is not None:
                    raise BodyTooComplex(problem)
        return message

    return receive_within_limit
