"""One JSON error shape for everything the service itself rejects:

    {"error": {"code": "not_found", "message": "Booking not found"}}

Validation errors keep FastAPI's list of problems under error.details, so
clients get both a readable message and the exact field locations.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

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


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    return error_response(exc.status_code, message, headers=exc.headers)


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
