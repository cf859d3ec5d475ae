"""Streaming uploads: request body -> disk in chunks, never whole in memory.

Accepts multipart/form-data with a `file` field (what browsers send), or a raw
body of an allowed content type named by an `X-Filename` header. The file is
hashed (sha256) and counted while it streams (over MAX_UPLOAD_SIZE_MB: a 413 at
once), written as a partial file (partial_files.py), renamed only when complete
and removed on every failure. A stored file is sent back by OpenFileResponse
(from a descriptor opened before the answer) under a Content-Disposition built here.

Why it is built this way: docs/design-notes.md, "upload_storage.py".
"""

import hashlib
import logging
import os
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO
from urllib.parse import quote, unquote

import anyio
from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from .errors import ServiceError
from .partial_files import partial_path
from .web.head import head_only

logger = logging.getLogger(__name__)

WRITE_BUFFER = 1 << 20  # bytes gathered before one write (in a worker thread)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a legacy `filename="..."` cannot hold: non-ASCII, quotes, backslashes,
# and % (which some clients would percent-decode). RFC 6266 appendix D.
_NOT_PLAIN = re.compile(r'[^\x20-\x7e]|["\\%]')


@dataclass
class StoredFile:
    id: str
    path: Path
    filename: str
    content_type: str
    size: int
    sha256: str


def stored_path(directory: Path, upload_id: str) -> Path:
    """Where an upload's file lives: named by its id, never by the client."""
    return directory / upload_id


def content_disposition(filename: str) -> str:
    """`attachment` with the stored name, as RFC 6266 advises: `filename*`
    (RFC 5987: UTF-8, percent-encoded), which every current client reads,
    after a plain ASCII `filename` for those that do not."""
    fallback = _NOT_PLAIN.sub("_", filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class OpenFileResponse(FileResponse):
    """FileResponse (ranges, If-Range, HEAD, 64 KiB reads) sent from a file
    opened before the route answers (`open_stored`), not from its path.

    FileResponse opens the path only once its headers are sent: a delete
    in between left a 200 or 206 announcing a Content-Length, then no body.
    An open descriptor outlives the unlink (POSIX), so a download either
    sends every byte it announced or was a 404 before any header."""

    def __init__(self, file: BinaryIO, headers: Mapping[str, str], media_type: str) -> None:
        self._file = file
        stat = os.fstat(file.fileno())
        super().__init__(file.name, headers=headers, media_type=media_type, stat_result=stat)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Without the pathsend extension: a server offering it would be
        # handed the path, to open again.
        extensions = dict(scope.get("extensions") or {})
        extensions.pop("http.response.pathsend", None)
        # A HEAD routed as GET (head.py): FileResponse sends the headers alone.
        method = "HEAD" if head_only(scope) else scope["method"]
        try:
            await super().__call__(
                {**scope, "extensions": extensions, "method": method}, receive, send
            )
        finally:
            self._file.close()  # also when nothing was read: a 416, a HEAD

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        # Where FileResponse opens its path; closed by __call__.
        yield anyio.wrap_file(self._file)


async def open_stored(path: Path) -> BinaryIO:
    """The stored file, open for reading (FileNotFoundError if it is gone)."""
    return await anyio.to_thread.run_sync(_open_binary, path)


def _open_binary(path: Path) -> BinaryIO:
    return open(path, "rb")  # closed by OpenFileResponse


async def remove_stored(path: Path) -> None:
    """Remove a stored file whose row is gone. A file already missing, or one
    that cannot be removed, is logged: the row is what clients see."""
    try:
        # Shielded: once the row is gone the file goes too, even from a
        # request being cancelled (a client leaving, a shutdown).
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(path.unlink)
    except FileNotFoundError:
        logger.warning("upload file %s was already gone", path.name)
    except OSError:
        logger.exception("upload file %s could not be removed; remove it by hand", path)


def safe_filename(raw: str | None) -> str:
    """The client's name reduced to a display name: no directories, no control
    characters, at most 255 characters. It is never used as a path."""
    name = unicodedata.normalize("NFC", raw or "")
    name = PureWindowsPath(PurePosixPath(name).name).name  # drop any / or \\ path
    name = _CONTROL.sub("", name).strip().lstrip(".")
    return name[:255] or "upload"


def header_filename(value: str) -> str:
    """The name in an X-Filename header, however a client encoded it.

    HTTP headers are bytes, read as latin-1. Accepted: RFC 8187's
    `UTF-8''caf%C3%A9.txt`, plain percent-encoding (`caf%C3%A9.txt`, what
    most clients do for non-ASCII), and raw UTF-8 bytes (`café.txt` as sent
    by curl), which would otherwise read as `cafÃ©.txt`.
    """
    if value[:7].lower() == "utf-8''":
        return unquote(value[7:], errors="replace")
    if "%" in value:
        return unquote(value, errors="replace")
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:  # really latin-1 (or not UTF-8): taken as read
        return value


def _boundary(options: dict[bytes, bytes]) -> bytes:
    # RFC 2046: 1 to 70 characters. python-multipart fails on longer ones
    # with an error of its own; refused here, before any byte is read.
    boundary = options.get(b"boundary", b"")
    if not 1 <= len(boundary) <= 70:
        raise ServiceError(400, "A multipart boundary must be 1 to 70 characters long")
    return boundary


def _too_large(limit: int) -> ServiceError:
    return ServiceError(413, f"File exceeds the upload limit of {limit // (1 << 20)} MB")


class _Sink:
    """Hashes, counts and writes one file; knows how to remove itself."""

    def __init__(self, directory: Path, limit: int) -> None:
        self.id = uuid.uuid4().hex
        self.final = stored_path(directory, self.id)
        self.partial = partial_path(directory, self.id)
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._file = open(self.partial, "xb")  # noqa: SIM115 - closed in finish/discard

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _too_large(self.limit)
        self._hash.update(data)
        self._buffer += data
        if len(self._buffer) >= WRITE_BUFFER:
            await self._flush()

    async def _flush(self) -> None:
        chunk, self._buffer = bytes(self._buffer), bytearray()
        await anyio.to_thread.run_sync(self._file.write, chunk)

    async def finish(self) -> str:
        await self._flush()
        self._file.close()
        os.replace(self.partial, self.final)
        return self._hash.hexdigest()

    def discard(self) -> None:
        self._file.close()
        for path in (self.partial, self.final):
            path.unlink(missing_ok=True)


class _MultipartFile:
    """Feeds body chunks to the parser and collects the `file` field's bytes.

    The parser's callbacks are synchronous, so the data of each chunk is
    gathered in `pending` and written after `feed` returns.
    """

    def __init__(self, boundary: bytes, allowed: set[str]) -> None:
        self.allowed = allowed
        self.pending: list[bytes] = []
        self.filename = ""  # the file field's, once found
        self.content_type = "application/octet-stream"
        self.found = False
        self.complete = False  # the closing boundary was seen
        self._in_file = False
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""
        self.parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def feed(self, chunk: bytes) -> list[bytes]:
        self.parser.write(chunk)
        pending, self.pending = self.pending, []
        return pending

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") != b"file" or self.found:
            return  # other fields (and a second file) are skipped, never stored
        self.found = self._in_file = True
        raw_name = options.get(b"filename", b"").decode("utf-8", "replace")
        self.filename = safe_filename(raw_name)
        content_type = self._headers.get(b"content-type", b"application/octet-stream")
        self.content_type = content_type.decode("latin-1").split(";")[0].strip().lower()
        check_content_type(self.content_type, self.allowed)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.pending.append(data[start:end])

    def _part_end(self) -> None:
        self._in_file = False

    def _end(self) -> None:
        self.complete = True


def check_content_type(content_type: str, allowed: set[str]) -> None:
    if content_type not in allowed:
        raise ServiceError(
            415,
            f"Content type {content_type!r} is not accepted; allowed: {', '.join(sorted(allowed))}",
        )


async def receive_upload(request: Request, *, raw_only: bool = False) -> StoredFile:
    """Stream the request's file to UPLOAD_DIR; on any failure nothing stays on disk.

    `raw_only`: the raw route, which refuses multipart bodies (415)."""
    settings = request.app.state.settings
    allowed = set(settings.allowed_upload_types)
    raw_type, options = parse_options_header(request.headers.get("content-type", ""))
    media_type = raw_type.decode("latin-1").lower()
    multipart = None
    if media_type == "multipart/form-data" and raw_only:
        raise ServiceError(
            415, "This route takes the file as the raw body; multipart/form-data goes to /uploads"
        )
    if media_type == "multipart/form-data":
        multipart = _MultipartFile(_boundary(options), allowed)
    else:
        check_content_type(media_type or "(none)", allowed)
        if not request.headers.get("x-filename"):
            raise ServiceError(
                400, "A raw upload needs an X-Filename header (or send multipart/form-data)"
            )

    sink = _Sink(Path(settings.upload_dir), settings.max_upload_size_mb << 20)
    try:
        try:
            async for chunk in request.stream():
                for data in multipart.feed(chunk) if multipart else (chunk,):
                    await sink.write(data)
            if multipart:
                multipart.parser.finalize()
                if not multipart.complete:
                    raise MultipartParseError("the body ends before its closing boundary")
        except MultipartParseError as exc:
            raise ServiceError(400, f"Malformed multipart body: {exc}") from None
        if multipart and not multipart.found:
            raise ServiceError(422, "The multipart body has no 'file' field")
        digest = await sink.finish()
    except BaseException:
        # Any failure: too large, bad type, malformed body, client gone, cancelled.
        sink.discard()
        raise
    if multipart:
        filename, content_type = multipart.filename, multipart.content_type
    else:
        filename = safe_filename(header_filename(request.headers["x-filename"]))
        content_type = media_type
    return StoredFile(sink.id, sink.final, filename, content_type, sink.size, digest)
