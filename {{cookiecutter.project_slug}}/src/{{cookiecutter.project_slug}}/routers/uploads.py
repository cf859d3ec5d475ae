"""Uploads: streamed to disk (see uploads.py), listed per owner."""

import logging

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from starlette.requests import ClientDisconnect

from ..auth import CurrentUser
from ..crud import columns_of, owned_by, read_as
from ..db import SessionDep
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

_BODY = {
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
    "required": True,
}


@router.post(
    "",
    status_code=201,
    openapi_extra={"requestBody": _BODY},
    responses={
        413: {"description": "Over MAX_UPLOAD_SIZE_MB"},
        415: {"description": "Type not allowed"},
    },
)
@rate_limit("30/minute")  # each upload holds a disk write and a slot for its whole length
async def upload_file(request: Request, user: CurrentUser, session: SessionDep) -> UploadRead:
    """Multipart (`file` field) or a raw body with an `X-Filename` header."""
    try:
        stored = await receive_upload(request)
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
