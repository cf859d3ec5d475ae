"""Uploads: streamed to disk (see uploads.py), listed per owner, read,
downloaded and deleted by their owner or an administrator."""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse

from ..auth import CurrentUser, Principal
from ..db import SessionDep
from ..errors import documented_errors
from ..models import Upload, UploadRead, table_of
from ..pagination import Page, PageParamsDep, SortKey, paginate
from ..ratelimit import rate_limit
from ..reads import ReaderDep
from ..resource_helpers import (
    columns_of,
    get_or_404,
    not_found,
    owned_by,
    owner_values,
    read_as,
    read_or_404,
)
from ..responses import RowsJSONResponse
from ..upload_storage import (
    OpenFileResponse,
    content_disposition,
    open_stored,
    receive_upload,
    remove_stored,
    stored_path,
)
from ..web.openapi import created_links

router = APIRouter(prefix="/uploads", tags=["uploads"])
logger = logging.getLogger(__name__)

_UPLOAD_COLUMNS = columns_of(Upload, UploadRead)
# The caller's uploads: bind resource_helpers.owner_values(user).
_MINE = owned_by(select(*_UPLOAD_COLUMNS), Upload)
# What a download needs of the row.
_FILE_COLUMNS: list[ColumnElement[Any]] = [
    table_of(Upload).c[name] for name in ("id", "filename", "content_type")
]
_NEWEST_FIRST = SortKey((Upload.created_at, Upload.id), descending=True)


class _Hex32(StringConvertor):
    """Ids are uuid4().hex (uploads.py). A path with anything else matches no
    route, as a booking id that is not an integer: a 404 before the database
    sees it (no NUL byte, which PostgreSQL refuses in a text parameter), and
    /uploads/raw stays the raw upload's path alone (its 405 lists POST)."""

    regex = "[0-9a-f]{32}"


register_url_convertor("hex32", _Hex32())
# The document states the same pattern, so clients and fuzzers know it.
UploadId = Annotated[
    str,
    Path(
        pattern="^[0-9a-f]{32}$",
        description="The upload's id, as its create answered: 32 lowercase hex digits",
    ),
]

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
_BINARY = {"schema": {"type": "string", "format": "binary"}}
# Stored as sent; "*/*" becomes the ALLOWED_UPLOAD_TYPES in the document
# (web/openapi.py, document_upload_types), application/octet-stream first.
_RAW = {
    "description": "The file itself, its type (one of ALLOWED_UPLOAD_TYPES) as Content-Type",
    "content": {"application/octet-stream": _BINARY, "*/*": _BINARY},
    "required": True,
}
_CREATED = {
    **documented_errors(413, 415),
    **created_links("uploads", "upload_id", ("read", "content", "delete")),
}
# The file comes back with the type it was stored with: application/octet-stream
# first, for generated clients (which take it as bytes), then any type.
_FILE_CONTENT = {"application/octet-stream": _BINARY, "*/*": _BINARY}
_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, with the content type it was uploaded with",
        "content": _FILE_CONTENT,
        "headers": {
            "Content-Disposition": {
                "description": "attachment, with the stored file name (RFC 6266)",
                "schema": {"type": "string"},
                "required": True,
            }
        },
    },
    206: {
        "description": "The byte ranges asked for with a Range header",
        "content": _FILE_CONTENT,
    },
}


# response_model: a client that leaves gets a bare 400 Response instead.
@router.post(
    "",
    status_code=201,
    response_model=UploadRead,
    openapi_extra={"requestBody": _MULTIPART},
    responses=_CREATED,
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
    responses=_CREATED,
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
    return RowsJSONResponse(await paginate(reader, _MINE, page, _NEWEST_FIRST, owner_values(user)))


@router.get("/{upload_id:hex32}", response_model=UploadRead)
async def read_upload(
    upload_id: UploadId, user: CurrentUser, reader: ReaderDep
) -> RowsJSONResponse:
    return RowsJSONResponse(await read_or_404(reader, Upload, _UPLOAD_COLUMNS, upload_id, user))


@router.get(
    "/{upload_id:hex32}/content",
    response_class=FileResponse,
    responses=_DOWNLOAD,
)
async def download_upload(
    request: Request, upload_id: UploadId, user: CurrentUser, reader: ReaderDep
) -> FileResponse:
    """The file itself, streamed from disk. Range requests are honoured
    (`Accept-Ranges: bytes`, `If-Range`); a malformed or unsatisfiable range
    gets 400 or 416 in plain text (Starlette's answer), not the JSON error."""
    row = await read_or_404(reader, Upload, _FILE_COLUMNS, upload_id, user)
    path = stored_path(request.app.state.settings.upload_dir, row["id"])
    try:
        # Opened now, so a delete from here on cannot cut the answer short
        # (upload_storage.OpenFileResponse); gone already: a 404.
        file = await open_stored(path)
    except FileNotFoundError:
        logger.warning("upload %s has a row but no file at %s", row["id"], path)
        raise not_found(Upload, upload_id) from None
    headers = {
        # As stored, without the charset Starlette would add to text/*: the
        # file's encoding is whatever the client sent.
        "Content-Type": row["content_type"],
        # Never sniffed into HTML: the server sends nosniff with every
        # response (web/protocol.py), so not here, or it would come twice.
        "Content-Disposition": content_disposition(row["filename"]),
    }
    return OpenFileResponse(file, headers, row["content_type"])


@router.delete("/{upload_id:hex32}", status_code=204)
async def delete_upload(
    request: Request, upload_id: UploadId, user: CurrentUser, session: SessionDep
) -> Response:
    """The row, then the file: a row never names a file that is gone. A file
    left behind by a failed removal is logged (and harmless)."""
    upload = await get_or_404(session, Upload, upload_id, owner=user)
    await session.delete(upload)
    await session.commit()
    await remove_stored(stored_path(request.app.state.settings.upload_dir, upload_id))
    return Response(status_code=204)
