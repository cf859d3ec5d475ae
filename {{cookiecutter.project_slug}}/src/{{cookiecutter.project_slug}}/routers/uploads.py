"""Uploads: streamed to disk (see uploads.py), listed per owner."""

import logging
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from ..auth import CurrentUser, Principal
from ..crud import columns_of, owned_by, read_as
from ..db import SessionDep
from ..errors import documented_errors
from ..models import Upload, UploadRead
from ..pagination import Page, PageParamsDep, SortKey, paginate
from ..ratelimit import rate_limit
from ..reads import ReaderDep
from ..responses import RowsJSONResponse
from ..uploads import receive_upload

router = APIRouter(prefix="/uploads", tags=["uploads"])
logger = logging.getLogger(__name__)

_UPLOAD_COLUMNS = columns_of(Upload, UploadRead)
_NEWEST_FIRST = SortKey((Upload.created_at, Upload.id), descending=True)

# The two forms as two operations: one request body each, so that clients
# generated from the document can send either. POST /uploads still accepts a
# raw body with X-Filename, as it always has; the document shows its
# multipart form only.
_MULTIPART = {
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        }
    },
    "required": True,
}
_RAW = {
    "description": "The file itself, of one of ALLOWED_UPLOAD_TYPES (sent as Content-Type)",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    "required": True,
}
_UPLOAD_ERRORS = documented_errors(413, 415)


# response_model: a client that leaves gets a bare 400 Response instead.
@router.post(
    "",
    status_code=201,
    response_model=UploadRead,
    openapi_extra={"requestBody": _MULTIPART},
    responses=_UPLOAD_ERRORS,
)
@rate_limit("30/minute")  # each upload holds a disk write and a slot for its whole length
async def upload_file(
    request: Request, user: CurrentUser, session: SessionDep
) -> UploadRead | Response:
    """A file as multipart/form-data, in its `file` field."""
    return await _store(request, user, session, raw_only=False)


@router.post(
    "/raw",
    status_code=201,
    response_model=UploadRead,
    openapi_extra={"requestBody": _RAW},
    responses=_UPLOAD_ERRORS,
)
@rate_limit("30/minute")
async def upload_raw_file(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    _name: Annotated[
        str,
        Header(
            alias="X-Filename",
            min_length=1,
            max_length=1024,
            description="The file's name: UTF-8, percent-encoded, or RFC 8187 (UTF-8''...)",
        ),
    ],
) -> UploadRead | Response:
    """A file as the raw request body, its name in `X-Filename`."""
    return await _store(request, user, session, raw_only=True)


async def _store(
    request: Request, user: Principal, session: AsyncSession, *, raw_only: bool
) -> UploadRead | Response:
    try:
        stored = await receive_upload(request, raw_only=raw_only)
    except ClientDisconnect:
        # Nothing to answer: the partial file is already gone.
        logger.info("upload abandoned by the client")
        return Response(status_code=400)
    upload = Upload(
        id=stored.id,
        user_id=user.id,
        filename=stored.filename,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
    )
    session.add(upload)
    try:
        await session.commit()
    except BaseException:
        stored.path.unlink(missing_ok=True)
        raise
    return read_as(UploadRead, upload)


@router.get("", response_model=Page[UploadRead])
async def list_my_uploads(
    user: CurrentUser, reader: ReaderDep, page: PageParamsDep
) -> RowsJSONResponse:
    stmt = owned_by(select(*_UPLOAD_COLUMNS), Upload, user)
    return RowsJSONResponse(await paginate(reader, stmt, page, _NEWEST_FIRST))
