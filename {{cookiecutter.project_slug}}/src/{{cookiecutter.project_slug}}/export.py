"""Streaming exports (JSON, NDJSON, CSV) whose memory does not grow with rows.

Rows come from a server-side cursor and leave in chunks of EXPORT_BATCH_ROWS.
The stream opens its own database connection and returns it when it ends,
fails, or the client goes away (`ClosingStreamingResponse`). Each worker runs
at most MAX_CONCURRENT_EXPORTS at once, at most MAX_EXPORTS_PER_USER of them
for one user; one more gets 429. An export whose client reads nothing for
EXPORT_STALL_SECONDS is stopped as if the client had left (its slot, its
database connection and COPY freed) and its connection closed.

Why it is built this way: docs/design-notes.md, "export.py".
"""

import asyncio
import csv
import functools
import io
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

import orjson
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from .auth import principal_of
from .copy_export import copy_query, stream_copy
from .db import database_unavailable
from .errors import ServiceError
from .pagination import SortKey
from .statements import NO_VALUES, AnySelect, Values
from .web.head import head_only
from .web.protocol import ABORT

logger = logging.getLogger(__name__)

EXPORT_BATCH_ROWS = 1_000
# The most one send passes to the server. A send returns once the client
# has taken about what was sent before it: with a batch of rows (hundreds of
# KiB) at once, a client reading a few KiB a second would not finish one
# within EXPORT_STALL_SECONDS and would be taken for one that stopped.
SEND_BYTES = 64 * 1024


class ExportFormat(StrEnum):
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


MEDIA_TYPES = {
    ExportFormat.json: "application/json",
    ExportFormat.ndjson: "application/x-ndjson",
    ExportFormat.csv: "text/csv; charset=utf-8",
}


# `responses=` of export routes: the 200 of each format with its media type.
# Text first: code generators take the first, and a client generated from
# this document then gets any format's body as text rather than trying to
# parse NDJSON as one JSON document. To stream, see the README.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Every matching row, streamed: one object per line (ndjson), "
        'a header line and one line per row (csv), or `{"items": [...]}` (json)',
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


class ExportSlots:
    """Counts running exports, per worker and per user. The event loop is
    single-threaded and the counts are never awaited across, so no lock is needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._by_user: dict[int | None, int] = {}  # users with an export running

    def acquire(self, user: int | None, per_user: int) -> None:
        """Count one more export of `user`, or raise the 429 of the cap it
        would pass: the user's own first, which says what they can do about it."""
        mine = self._by_user.get(user, 0)
        if mine >= per_user:
            raise _too_many(
                f"You have {mine} exports running (at most {per_user} at once per user); "
                "retry when one has finished"
            )
        if self.in_use >= self.limit:
            raise _too_many(
                f"Too many exports running (at most {self.limit} per worker); retry shortly"
            )
        self.in_use += 1
        self._by_user[user] = mine + 1

    def release(self, user: int | None) -> None:
        self.in_use -= 1
        left = self._by_user.pop(user) - 1
        if left:
            self._by_user[user] = left


def _too_many(message: str) -> ServiceError:
    return ServiceError(429, message, headers={"Retry-After": "5"})


class _ClientStalled(Exception):
    """The client took none of the response for the stall time."""


class ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that always closes its generator and then calls
    `on_close`, whether the stream finished, failed, the client left or it
    stopped reading.

    It takes the first chunk before sending the status: the generator
    connects to the database there, so a database that is down or a pool
    with no free connection is still a JSON 503, not a 200 whose body breaks.

    Each send may wait at most `stall_seconds`: the server's send waits while
    the socket's buffers are full, that is for the client to take some, and
    nothing else in the stream runs meanwhile (a COPY's own time limits
    included). Chunks leave in pieces of at most SEND_BYTES, so a client
    that reads slowly finishes one within that time.
    """

    def __init__(
        self,
        content: AsyncGenerator[bytes],
        *,
        on_close: Callable[[], None],
        stall_seconds: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close
        self._stall_seconds = stall_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rows = cast(AsyncGenerator[bytes], self.body_iterator)  # the `content` given
        try:
            if head_only(scope):  # the headers of an empty export: no query starts
                head = {"status": self.status_code, "headers": self.raw_headers}
                await send({"type": "http.response.start", **head})
                await send({"type": "http.response.body", "body": b""})
                return
            try:
                first = await anext(rows)
            except StopAsyncIteration:
                first = b""
            except Exception as exc:
                if (unavailable := database_unavailable(exc)) is None:
                    raise
                logger.warning("export not started: %s", unavailable)
                await unavailable.response()(scope, receive, send)
                return
            self.body_iterator = _pieces(first, rows)
            try:
                await super().__call__(scope, receive, self._bounded(send))
            except _ClientStalled:
                # The connection is dropped (the server would keep it until
                # the client read what is queued): the client sees a cut
                # body, not an end.
                logger.warning(
                    "export stopped: the client read nothing for %g s", self._stall_seconds
                )
                if abort := scope.get("extensions", {}).get(ABORT, {}).get("abort"):
                    abort()
        finally:
            try:
                await rows.aclose()
            finally:
                self._on_close()

    def _bounded(self, send: Send) -> Send:
        async def bounded(message: Message) -> None:
            try:
                async with asyncio.timeout(self._stall_seconds):
                    await send(message)
            except TimeoutError:
                raise _ClientStalled from None

        return bounded


async def _pieces(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`first`, then `rest`, in pieces of at most SEND_BYTES."""
    async for chunk in _prepend(first, rest):
        for start in range(0, len(chunk), SEND_BYTES):
            yield chunk[start : start + SEND_BYTES]


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


# ---------------------------------------------------------------- encoders


def _csv_value(value: Any) -> Any:
    """A value as the JSON formats write it: datetimes in UTC with Z, booleans
    as true and false (Python's csv module writes True and False)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# Each encoder turns one batch of row tuples into bytes. orjson serializes
# datetimes itself (OPT_UTC_Z: "...Z" as the API does) and is several times
# faster than json.dumps on these rows.


def _other(value: Any) -> Any:
    # What orjson leaves to its caller: decimals leave as strings, as the API
    # sends them (a float would round money).
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot export a {type(value).__name__}")


def _ndjson(keys: Sequence[str], rows: Iterable[Sequence[Any]], _first: bool) -> bytes:
    option = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE
    return b"".join(orjson.dumps(dict(zip(keys, row, strict=True)), _other, option) for row in rows)


def _json(keys: Sequence[str], rows: Iterable[Sequence[Any]], first: bool) -> bytes:
    # One dumps call per batch, then drop the list's brackets.
    body = orjson.dumps(
        [dict(zip(keys, row, strict=True)) for row in rows], _other, orjson.OPT_UTC_Z
    )
    return body[1:-1] if first else b"," + body[1:-1]


def _csv(_keys: Sequence[str], rows: Iterable[Sequence[Any]], _first: bool) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([_csv_value(value) for value in row] for row in rows)
    return buffer.getvalue().encode()


def _csv_header(columns: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(columns)
    return buffer.getvalue().encode()


# ---------------------------------------------------------------- streaming


async def _stream_rows(
    engine: AsyncEngine, stmt: AnySelect, values: Values, fmt: ExportFormat
) -> AsyncGenerator[bytes]:
    encode = {ExportFormat.json: _json, ExportFormat.ndjson: _ndjson, ExportFormat.csv: _csv}[fmt]
    # Plain columns (see export_response): each has a key.
    keys = cast(list[str], [column.key for column in stmt.selected_columns])
    sent = 0
    finished = False
    try:
        # A Core connection, not an ORM session: rows are plain tuples, with
        # no ORM loading step per row. Opened here, inside the stream, after
        # the route's own session has given its connection back; the first
        # chunk waits for it (see ClosingStreamingResponse).
        async with engine.connect() as connection:
            if fmt is ExportFormat.json:
                yield b'{"items":['
            elif fmt is ExportFormat.csv:
                yield _csv_header(keys)
            result = await connection.stream(
                stmt.execution_options(yield_per=EXPORT_BATCH_ROWS), values
            )
            async for batch in result.partitions():
                if batch:
                    yield encode(keys, batch, sent == 0)
                    sent += len(batch)
        finished = True
    finally:
        if not finished:
            logger.info("export stopped early after %d rows (client left or error)", sent)
    if fmt is ExportFormat.json:
        yield b"]}"


def _body(
    request: Request, stmt: AnySelect, values: Values, fmt: ExportFormat
) -> AsyncGenerator[bytes]:
    """COPY on PostgreSQL where every column allows it; rows otherwise."""
    engine: AsyncEngine = request.app.state.engine
    settings = request.app.state.settings
    csv = fmt is ExportFormat.csv
    if settings.export_with_copy and engine.dialect.name == "postgresql":
        query = copy_query(stmt, csv, engine.dialect)
        if query is not None:
            array = fmt is ExportFormat.json
            stall = settings.db_statement_timeout_seconds
            return stream_copy(engine, query, values, csv=csv, array=array, stall=stall)
    return _stream_rows(engine, stmt, values, fmt)


@functools.lru_cache(maxsize=256)
def ordered(stmt: AnySelect, key: SortKey) -> AnySelect:
    """`stmt` in the order of `key`, built once (as pages are: pagination.py),
    so that what is derived from it (its COPY, SQLAlchemy's cache key) is too."""
    return stmt.order_by(*key.order_by())


async def export_response(
    request: Request,
    stmt: AnySelect,
    key: SortKey,
    fmt: ExportFormat,
    name: str,
    values: Values = NO_VALUES,
) -> StreamingResponse:
    """Stream `stmt` (a select of plain columns, `values` bound) in the order
    of `key` as a file download, counted against the signed-in user's slots."""
    principal = await principal_of(request)  # resolved already, by the route's check
    user = principal.id if principal is not None else None
    settings = request.app.state.settings
    slots: ExportSlots = request.app.state.export_slots
    slots.acquire(user, settings.max_exports_per_user)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return ClosingStreamingResponse(
        _body(request, ordered(stmt, key), values, fmt),
        on_close=functools.partial(slots.release, user),
        stall_seconds=settings.export_stall_seconds,
        media_type=MEDIA_TYPES[fmt],
        headers={
            # Never sniffed into HTML: the server sends nosniff with every
            # response (web/protocol.py), so not here, or it would come twice.
            "Content-Disposition": f'attachment; filename="{name}-{stamp}.{fmt.value}"',
        },
    )
