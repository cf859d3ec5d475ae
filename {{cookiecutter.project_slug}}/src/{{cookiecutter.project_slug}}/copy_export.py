"""Exports on PostgreSQL, encoded by the database: COPY (query) TO STDOUT.

The same filtered, ordered, owner-scoped select as the row-by-row path
(export.py), with each column written by PostgreSQL in the format the API
uses, so the bytes stream from the server to the client without a Python
object per value: CSV as COPY's own CSV, JSON as one object per line built
with row_to_json(). Columns without an exact PostgreSQL spelling of the API's
format (floats: the two print exponents differently) keep the row path.

Why it is built this way: docs/design-notes.md, "copy_export.py".
"""

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
    case,
    cast,
    func,
    literal_column,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

from .statements import AnySelect, Values

logger = logging.getLogger(__name__)

# COPY's output arrives in pieces of about 8 KiB (PostgreSQL's send buffer).
# Passed on one by one, each piece's trip through the ASGI stack cost the
# worker more CPU than the database spent writing it, so pieces are joined
# into chunks of this size first...
CHUNK_BYTES = 64 * 1024
# ...unless the rows trickle in: bytes wait at most this long for company.
FLUSH_SECONDS = 0.2
# Chunks held between the database and a slow client: with the one being
# joined, at most about 320 KiB per export.
QUEUED_CHUNKS = 4
_ROW = "export_row"  # the name of the JSON export's row in its SQL
# COPY's CSV with a quote and delimiter that JSON text never holds unescaped
# (row_to_json writes control characters as \\u00XX): each line leaves exactly as
# PostgreSQL wrote it, without the backslash doubling of the text format.
VERBATIM = {"format": "csv", "quote": "\x01", "delimiter": "\x02"}
# asyncpg would apply the per-statement timeout to the whole COPY;
# copy_chunks limits each wait for data instead.
_NO_LIMIT = 7 * 24 * 3600.0


class CopyQuery(NamedTuple):
    sql: str  # numbered parameters ($1, ...), as asyncpg takes them
    compiled: SQLCompiler

    def arguments(self, values: Values) -> list[Any]:
        """The bound values in order, converted as SQLAlchemy would send them."""
        params = self.compiled.construct_params(dict(values)) or {}
        processors: Mapping[str, Any] = self.compiled._bind_processors
        names = self.compiled.positiontup or ()
        return [
            processors[name](params[name]) if name in processors else params[name] for name in names
        ]


def _sql(text: str) -> ColumnElement[Any]:
    # A constant in the SQL itself, not a bound value: COPY takes no
    # parameters, so asyncpg would quote each one into the statement.
    return literal_column(text)


def _sql_string(text: str) -> ColumnElement[str]:
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def _utc_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """2030-05-01T09:00:00Z, or ...09:00:00.120000Z: timestamp's own output
    (DateStyle ISO) with a T, six digits of fraction when there is one, and
    a Z (the alternatives measured: docs/design-notes.md)."""
    # In UTC by a fixed offset: plain arithmetic, where timezone('UTC', ...)
    # looks the zone up by name for every value.
    text = cast(func.timezone(_sql("INTERVAL '0'"), column), Text)
    # PostgreSQL repeats an expression each place it is written, so the
    # fraction is tested on the value (it equals itself rounded to whole
    # seconds), not on the text, which is then made once per value.
    whole = column == cast(column, TIMESTAMP(timezone=True, precision=0))
    padded = func.rpad(text, _sql("26"), _sql_string("0"))
    spelled = case((whole, text), else_=padded)
    # ||, not concat(): a null stays null.
    return func.replace(spelled, _sql_string(" "), _sql_string("T"), type_=Text) + _sql_string("Z")


def _as_text(column: ColumnElement[Any], *, for_csv: bool) -> ColumnElement[Any] | None:
    """`column` as PostgreSQL should write it to match the API, or None."""
    kind = column.type
    kind = getattr(kind, "impl_instance", kind)  # a TypeDecorator's stored type
    if isinstance(kind, DateTime):
        return _utc_text(column) if kind.timezone else None
    if isinstance(kind, Date):
        return func.to_char(column, _sql_string("YYYY-MM-DD"))
    if isinstance(kind, Boolean):
        # true/false in CSV too, as JSON has them (COPY writes t/f).
        return (
            case((column, _sql_string("true")), (~column, _sql_string("false")))
            if for_csv
            else column
        )
    if isinstance(kind, Numeric) and kind.asdecimal:
        return cast(column, Text)  # decimals are strings in the API's JSON
    if isinstance(kind, Integer | String | Uuid) and not isinstance(kind, Numeric):
        return column
    return None


@functools.lru_cache(maxsize=256)
def copy_query(stmt: AnySelect, for_csv: bool, dialect: Dialect) -> CopyQuery | None:
    """The COPY of `stmt` (cached: statements are built once per worker), or
    None if one of its columns keeps the row path."""
    keys = [str(column.key) for column in stmt.selected_columns]
    columns = [_as_text(column, for_csv=for_csv) for column in stmt.selected_columns]
    if any(column is None for column in columns) or len(set(keys)) != len(keys):
        return None
    written = [column for column in columns if column is not None]
    labelled = [column.label(key) for key, column in zip(keys, written, strict=True)]
    if for_csv:
        select = stmt.with_only_columns(*labelled, maintain_column_froms=True)
    else:
        # row_to_json of the converted columns, joined LATERAL: the select
        # keeps its FROM, filters and order, and each row leaves as one
        # compact object with the columns' keys, as orjson writes it.
        row = sa_select(*labelled).correlate(*stmt.get_final_froms()).lateral(_ROW)
        select = stmt.with_only_columns(
            func.row_to_json(literal_column(_ROW)), maintain_column_froms=True
        ).select_from(row)
    compiled = select.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    if "POSTCOMPILE" in compiled.string:  # IN lists expanded per call: not cached here
        return None
    return CopyQuery(compiled.string, compiled)


async def copy_chunks(
    connection: Any, query: CopyQuery, values: Values, options: dict[str, Any], stall: float
) -> AsyncGenerator[bytes]:
    """COPY's output in chunks of about CHUNK_BYTES, as it arrives. Ends the
    COPY on the server (a cancel request) when the caller stops early; fails
    after `stall` seconds with no data (a hung server), as any statement would."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUED_CHUNKS)
    joined = bytearray()  # pieces not yet queued
    loop = asyncio.get_running_loop()
    progress = loop.time()  # when data last arrived or left

    async def collect(piece: bytes) -> None:
        nonlocal progress
        progress = loop.time()
        joined.extend(piece)
        if len(joined) >= CHUNK_BYTES:
            await queue.put(_take(joined))

    async def produce() -> None:
        await connection.copy_from_query(
            query.sql, *query.arguments(values), output=collect, timeout=_NO_LIMIT, **options
        )
        if joined:
            await queue.put(_take(joined))
        await queue.put(None)

    task = asyncio.create_task(produce())
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait(
                {getter, task}, timeout=FLUSH_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if getter.done():
                chunk = getter.result()
            else:
                getter.cancel()
                if task.done():
                    task.result()  # the COPY's error
                    continue  # it ended: the end marker is queued
                if not queue.empty():  # a chunk came as the wait ended
                    continue
                if not joined:
                    if loop.time() - progress > stall:
                        raise TimeoutError(f"no export data from the database for {stall} s")
                    continue
                # Rows trickle in: send what there is (newer than anything
                # queued, so only once the queue is empty).
                chunk = _take(joined)
            if chunk is None:
                return
            yield chunk
            progress = loop.time()  # the client may have taken its time
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _take(joined: bytearray) -> bytes:
    chunk = bytes(joined)
    joined.clear()
    return chunk


async def stream_copy(
    engine: AsyncEngine, query: CopyQuery, values: Values, *, csv: bool, array: bool, stall: float
) -> AsyncGenerator[bytes]:
    """The export's body: COPY's CSV (with its header line), or its JSON
    lines, as they are (ndjson) or joined into `{"items":[...]}` (`array`)."""
    async with engine.connect() as connection:
        # COPY is asyncpg's own API: its connection, under the pooled one.
        driver: Any = (await connection.get_raw_connection()).driver_connection
        # One snapshot for the whole file; and behind PgBouncer (transaction
        # mode) the statements asyncpg sends for the bound values stay on
        # one server connection.
        transaction = driver.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        sent, finished = 0, False
        try:
            # Timestamps are written from their text form (_utc_text).
            await driver.execute("SET LOCAL datestyle = 'ISO'")
            options = {"format": "csv", "header": True} if csv else VERBATIM
            chunks = copy_chunks(driver, query, values, options, stall)
            async with contextlib.aclosing(_joined(chunks) if array else chunks) as body:
                if array:
                    yield b'{"items":['
                async for chunk in body:
                    sent += len(chunk)
                    yield chunk
                if array:
                    yield b"]}"
            await transaction.commit()
            finished = True
        finally:
            if not finished:
                # Cut short (the client left, or an error): the COPY was
                # cancelled on the server, but asyncpg may still be winding
                # it down, so this connection is closed rather than reused.
                logger.info("export stopped early after %d bytes (client left or error)", sent)
                await connection.invalidate()


async def _joined(lines: AsyncGenerator[bytes]) -> AsyncGenerator[bytes]:
    """JSON lines as the items of one array: newlines become commas, the
    last one dropped (a chunk may end anywhere in a line)."""
    comma = b""
    async with contextlib.aclosing(lines):
        async for chunk in lines:
            body = chunk.replace(b"\n", b",")
            if body.endswith(b","):
                yield comma + body[:-1]
                comma = b","
            else:
                yield comma + body
                comma = b""
