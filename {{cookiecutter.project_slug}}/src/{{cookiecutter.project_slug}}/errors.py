"""One JSON error shape for everything the service itself rejects:

    {"error": {"code": "not_found", "message": "Booking not found"}}

Validation errors keep FastAPI's list of problems under error.details, so
clients get both a readable message and the exact field locations.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict
from starlette._utils import get_route_path  # starlette.routing only imports it
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .web.request_ids import REQUEST_ID

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "content_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    431: "headers_too_large",
    503: "service_unavailable",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    details: list[dict[str, Any]] | None = None  # validation errors: every problem, located
    request_id: str | None = None  # as in X-Request-ID and the logs (logs.py)


class ErrorResponse(BaseModel):
    """The shape of every error, as documented in the OpenAPI schema."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


def documented_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for routes: these status codes answer with ErrorResponse
    (and Retry-After, for those that send it)."""
    return {code: _documented(code) for code in codes}


def _documented(code: int) -> dict[str, Any]:
    response: dict[str, Any] = {"model": ErrorResponse, "description": _DESCRIPTIONS[code]}
    if code in (429, 503):
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    return response


_RETRY_AFTER = {
    "description": "Seconds to wait before retrying",
    "schema": {"type": "integer", "minimum": 0},
}


_DESCRIPTIONS = {
    400: "Bad request (for example an invalid cursor)",
    401: "Missing or invalid bearer token",
    403: "Administrator access required",
    404: "Not found",
    409: "Conflicts with the current state (for example a venue that does not exist)",
    413: "Request body over the limit",
    415: "Content type not allowed",
    422: "Invalid parameters or body",
    429: "Rate limit exceeded, or too many exports at once",
    431: "Too many request headers",
    500: "Internal error (logged; no detail is given)",
    503: "Database or memory unavailable; retry after Retry-After seconds",
}


def error_body(
    status_code: int, message: str, code: str | None = None, **extra: Any
) -> dict[str, Any]:
    error = {"code": code or _CODES.get(status_code, "error"), "message": message, **extra}
    if request_id := REQUEST_ID.get():
        error["request_id"] = request_id
    return {"error": error}


def error_response(
    status_code: int,
    message: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(error_body(status_code, message, code, **extra), status_code, headers)


class ServiceError(Exception):
    """Raise from a route to answer with the JSON error shape."""

    def __init__(
        self,
        status_code: int,
        message: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code, self.message, self.code, self.headers = (
            status_code,
            message,
            code,
            headers,
        )

    def response(self) -> JSONResponse:
        return error_response(self.status_code, self.message, self.code, self.headers)


async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
    return exc.response()


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    # An exception class may name its own code (bodylimit.py's do).
    return error_response(exc.status_code, message, getattr(exc, "code", None), headers)


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path. Starlette's own Allow lists
    only the first route that matches the path (GET /bookings, not POST)."""
    path = get_route_path(request.scope)
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= route.methods
    if "GET" in methods:  # answered as GET, without the body (head.py)
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    details = [
        {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return error_response(422, f"{where}: {first['msg']}", details=details)


def install_error_handlers(app: FastAPI) -> None:
    # Typed as FastAPI types handlers: Starlette's type wants each to take any Exception.
    handlers: dict[type[Exception], Callable[[Request, Any], Awaitable[Response]]] = {
        ServiceError: _service_error,
        StarletteHTTPException: _http_error,
        RequestValidationError: _validation_error,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)


class StartTracking:
    """Wraps an ASGI `send`: `started` says whether the response has begun
    (after that, an error can no longer be answered with a response of its
    own), `status` what it began with (0 before); `headers` are added to it."""

    def __init__(self, send: Send, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.send = send
        self.headers = list(headers)
        self.started = False
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started, self.status = True, message["status"]
            if self.headers:
                message["headers"] = [*message.get("headers", ()), *self.headers]
        await self.send(message)


class UnhandledErrorMiddleware:
    """The last word on a bug: one log record with the traceback, a JSON 500,
    and a connection that stays usable.

    Starlette's own last layer answers too, but then re-raises so the server
    logs the same traceback a second time and drops the keep-alive connection
    without a `Connection: close`. This layer sits just inside it and ends
    the exception here. A response that had already started cannot become a
    500: the server closes that connection, which tells the client it is cut.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracking = StartTracking(send)
        try:
            await self.app(scope, receive, tracking)
        except Exception:
            # The traceback for operators; the client never sees it.
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not tracking.started:
                await error_response(500, "Internal server error")(scope, receive, send)
