"""One JSON error shape for everything the service itself rejects:

    {"error": {"code": "not_found", "message": "Booking not found"}}

Validation errors keep FastAPI's list of problems under error.details, so
clients get both a readable message and the exact field locations.
"""

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    503: "service_unavailable",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    details: list[dict] | None = None  # validation errors: every problem, located


class ErrorResponse(BaseModel):
    """The shape of every error, as documented in the OpenAPI schema."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


def documented_errors(*codes: int) -> dict[int | str, dict]:
    """`responses=` for routes: these status codes answer with ErrorResponse."""
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}


_DESCRIPTIONS = {
    400: "Bad request (for example an invalid cursor)",
    401: "Missing or invalid bearer token",
    403: "Administrator access required",
    404: "Not found",
    413: "Request body over the limit",
    415: "Content type not allowed",
    422: "Invalid parameters or body",
    429: "Rate limit exceeded, or too many exports at once",
    503: "Database or memory unavailable; retry after Retry-After seconds",
}


def error_body(status_code: int, message: str, code: str | None = None, **extra) -> dict:
    error = {"code": code or _CODES.get(status_code, "error"), "message": message, **extra}
    return {"error": error}


def error_response(
    status_code: int,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra,
) -> JSONResponse:
    return JSONResponse(error_body(status_code, message, code, **extra), status_code, headers)


class ServiceError(Exception):
    """Raise from a route to answer with the JSON error shape."""

    def __init__(self, status_code: int, message: str, code: str | None = None, headers=None):
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


def _body_limit_message(scope: Scope) -> str:
    limit = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    if isinstance(limit, int):
        return f"Request body exceeds this endpoint's limit of {limit} bytes"
    return "Request body too large"


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 413:
        message = _body_limit_message(request.scope)
    else:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    return error_response(exc.status_code, message, headers=exc.headers)


class BodyLimitErrorMiddleware:
    """Gives Starlette's own 413 answers the service's JSON error shape.

    When a Content-Length is over the limit, Starlette's body-limit middleware
    replaces whatever response the app started with a plain-text 413, after
    every exception handler has run. This pure ASGI wrapper sits outside it
    and rewrites exactly that response; everything else passes untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_json_413(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                content_type = Headers(raw=message["headers"]).get("content-type", "")
                if content_type.startswith("text/plain"):
                    replaced = True
                    body = json.dumps(error_body(413, _body_limit_message(scope))).encode()
                    headers = [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ]
                    await send({"type": "http.response.start", "status": 413, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
            if not replaced:  # drop the plain-text body of a replaced response
                await send(message)

        await self.app(scope, receive, send_json_413)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    details = [
        {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return error_response(422, f"{where}: {first['msg']}", details=details)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Log the traceback for operators; the client never sees it.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unhandled)
