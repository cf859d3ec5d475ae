"""The service's reads: SQLAlchemy Core on the pool, one statement at a time.

Routes that read take `reader: ReaderDep` and answer what it returns (plain
dicts, as the database typed them) with responses.RowsJSONResponse. A hot route
reads with a statement built once (a module constant, or a function cached per
enum argument), its per-request values bound beside it:
`reader.rows(MINE, {"owner_id": user.id})`.

Why it is built this way: docs/design-notes.md, "reads.py".
"""

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeAlias, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Result, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from .counts import CountCache
from .db import database_unavailable, describe, read_engine
from .settings import Settings
from .statements import NO_VALUES, AnySelect, Values

logger = logging.getLogger(__name__)
T = TypeVar("T")
AnyResult: TypeAlias = Result[*tuple[Any, ...]]  # of a statement of any columns


class Reader:
    """The service's reads: SQLAlchemy Core on a pooled connection, no ORM.

    A connection is taken for one statement and returned at once, so a
    request holds none while it waits on its client. No transaction (see
    db.create_read_sessionmaker). A connection that died in the pool (the
    database restarted) fails its statement, SQLAlchemy then discards every
    connection older than that, and the read runs once more on a fresh one:
    what pool_pre_ping bought, without a round trip per checkout. Reads only:
    a write must never be sent twice.

    Reads queue for DB_POOL_SIZE connections in arrival order (`_take_turn`).
    In arrival order: the pool's own queue lets a newcomer take a connection
    a waiter was woken for, and under load some requests waited seconds
    while others passed. DB_POOL_SIZE, not the overflow too: an overflow
    connection is closed when it is returned, so steady reads through it
    would connect (and prepare their statements) again and again; the
    overflow is left to writes and exports.
    """

    def __init__(self, engine: AsyncEngine, counts: CountCache, settings: Settings) -> None:
        self.engine = read_engine(engine, settings)
        self.counts = counts
        self._slots = asyncio.Semaphore(settings.db_pool_size)
        self._wait_seconds = settings.db_pool_timeout

    async def rows(self, stmt: AnySelect, values: Values = NO_VALUES) -> list[dict[str, Any]]:
        return await self._run(stmt, values, _dicts)

    async def first(self, stmt: AnySelect, values: Values = NO_VALUES) -> dict[str, Any] | None:
        rows = await self._run(_first_of(stmt), values, _dicts)
        return rows[0] if rows else None

    async def ping(self) -> None:
        await self._run(_PING, NO_VALUES, Result.scalar_one)

    async def count(
        self, stmt: AnySelect, values: Values = NO_VALUES, *, exact: bool = False
    ) -> int:
        """How many rows `stmt` selects; from the count cache unless `exact`."""
        key = self.counts.key(stmt, values)
        if key is not None and not exact and (total := self.counts.get(key)) is not None:
            return total
        writes = self.counts.writes(stmt)
        count = _count_of(stmt)
        if key is None or exact:
            counted: int = await self._run(count, values, Result.scalar_one)
            if key is not None:
                self.counts.put(key, writes, counted)
            return counted
        return await self.counts.shared(
            key, writes, lambda: self._run(count, values, Result.scalar_one)
        )

    async def _take_turn(self) -> None:
        """A place among the pool's connections, first come first served
        (asyncio's semaphore lets no newcomer pass a waiter)."""
        if not self._slots.locked():  # a place is free: taken at once, no timer armed
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(self._wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise sa_exc.TimeoutError("no free connection within DB_POOL_TIMEOUT") from None

    async def _run(self, stmt: AnySelect, values: Values, take: Callable[[AnyResult], T]) -> T:
        for retry in (True, False):
            try:
                await self._take_turn()
                try:
                    async with self.engine.connect() as connection:
                        return take(await connection.execute(stmt, values))
                finally:
                    self._slots.release()
            except Exception as exc:
                if retry and isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
                    logger.info("a pooled connection was dead; reading again: %s", describe(exc))
                    continue
                if (unavailable := database_unavailable(exc)) is not None:
                    logger.warning("read failed: %s (%s)", unavailable, describe(exc))
                    raise unavailable from None
                raise
        raise AssertionError("unreachable")


_PING = select(1)


# Derived statements are cached by the statement they come from, so a
# statement built once derives them once too. Bounded: a statement built per
# request (an export's, say) still works, it just finds nothing cached.
@functools.lru_cache(maxsize=256)
def _first_of(stmt: AnySelect) -> AnySelect:
    return stmt.limit(1)


@functools.lru_cache(maxsize=256)
def _count_of(stmt: AnySelect) -> AnySelect:
    return stmt.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)


def _dicts(result: AnyResult) -> list[dict[str, Any]]:
    # str(): SQLAlchemy's column names are str subclasses, which orjson refuses as keys.
    keys = list(map(str, result.keys()))
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


async def get_reader(request: Request) -> Reader:
    reader: Reader = request.app.state.reader
    return reader


ReaderDep = Annotated[Reader, Depends(get_reader)]
