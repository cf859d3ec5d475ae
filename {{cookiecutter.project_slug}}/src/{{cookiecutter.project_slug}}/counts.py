"""List totals without a COUNT per request: cached per query, dropped on writes.

A total is kept for COUNT_CACHE_SECONDS under the query's SQLAlchemy cache key
(filters and owner included). A write this worker sends through the engine
marks its table, whose totals are recounted on next use; other workers and
writers are bounded by the lifetime. Concurrent requests share one COUNT.

Why it is built this way: docs/design-notes.md, "counts.py".
"""

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, cast

from cachetools import TTLCache
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.util import find_tables

from .statements import AnySelect, Values

# How often each table of a statement had been written: ((table, count), ...).
Writes: TypeAlias = tuple[tuple[str, int], ...]

_WRITTEN = "counts.written"  # Connection.info key: tables written in this transaction


class CountCache:
    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self.enabled = ttl_seconds > 0
        self._ttl_seconds = ttl_seconds
        self._entries: TTLCache[Any, tuple[int, Writes]] = TTLCache(
            maxsize=max_entries, ttl=ttl_seconds or 1
        )
        self._writes: collections.Counter[str] = collections.Counter()
        self._counting: dict[tuple[Any, Writes], asyncio.Future[int]] = {}

    @staticmethod
    def key(stmt: AnySelect, values: Values) -> Any:
        """The statement's SQLAlchemy cache key (what its own statement cache
        uses, memoized on the statement): its structure, the values written
        into it and the values bound beside it (filters, owner). None for a
        statement SQLAlchemy cannot cache (a type without cache_ok)."""
        cache_key = stmt._generate_cache_key()
        if cache_key is None:
            return None
        inline = tuple(param.effective_value for param in cache_key.bindparams)
        return cache_key.key, inline, tuple(sorted(values.items()))

    def get(self, key: Any) -> int | None:
        entry = self._entries.get(key) if self.enabled else None
        if entry is None or entry[1] != self._writes_to(entry[1]):
            return None
        return entry[0]

    def writes(self, stmt: AnySelect) -> Writes:
        """How often `stmt`'s tables had been written, taken before counting:
        a write that lands while the COUNT runs makes its result stale."""
        return tuple((name, self._writes[name]) for name in sorted(_table_names(stmt)))

    def _writes_to(self, seen: Writes) -> Writes:
        return tuple((name, self._writes[name]) for name, _ in seen)

    def put(self, key: Any, writes: Writes, total: int) -> None:
        if self.enabled:
            self._entries[key] = (total, writes)

    async def shared(self, key: Any, writes: Writes, count: Callable[[], Awaitable[int]]) -> int:
        """`count()` once for every caller waiting on the same key, then cached.

        It runs as a task of its own (shielded), so a caller that goes away
        does not cancel the others' count."""
        pending = self._counting.get((key, writes))
        if pending is None:
            pending = asyncio.ensure_future(count())
            self._counting[(key, writes)] = pending
            pending.add_done_callback(lambda done: self._settle(key, writes, done))
        return await asyncio.shield(pending)

    def _settle(self, key: Any, writes: Writes, done: asyncio.Future[int]) -> None:
        del self._counting[(key, writes)]
        if not done.cancelled() and done.exception() is None:
            self.put(key, writes, done.result())

    def written(self, table: str) -> None:
        self._writes[table] += 1

    def cap_lifetime(self, seconds: float | None) -> None:
        """Keep totals `seconds` at most (None: COUNT_CACHE_SECONDS again),
        starting empty: while invalidations cannot travel (broadcast.py),
        what is cached may be stale."""
        if self.enabled:
            ttl = self._ttl_seconds if seconds is None else min(self._ttl_seconds, seconds)
            self._entries = TTLCache(maxsize=self._entries.maxsize, ttl=ttl)


def _table_names(stmt: AnySelect) -> set[str]:
    return {table.name for table in find_tables(stmt)}


def track_writes(
    engine: AsyncEngine, counts: CountCache, committed: Callable[[str], None] | None = None
) -> None:
    """Tell `counts` about every table written through `engine`; `committed`
    (default: counts.written) hears of each table a commit wrote, for other
    workers to drop their totals too (broadcast.Invalidations)."""
    on_committed = committed or counts.written

    def after_execute(
        conn: Connection,
        _cursor: object,
        _statement: str,
        _params: object,
        context: DefaultExecutionContext,
        _many: bool,
    ) -> None:
        if context.isinsert or context.isupdate or context.isdelete:
            compiled = cast(Compiled, context.compiled)  # never None for these three
            table = getattr(compiled.statement, "table", None)
            if name := getattr(table, "name", None):
                counts.written(name)
                conn.info.setdefault(_WRITTEN, set()).add(name)

    # The commit event comes just before the COMMIT is sent: a count racing
    # that instant may keep the old total, for at most the lifetime.
    # A connection found dead is invalidated before its rollback event, and
    # its `info` can no longer be read: the error being handled is what counts.
    def on_commit(conn: Connection) -> None:
        if not conn.invalidated:
            for name in conn.info.pop(_WRITTEN, ()):
                on_committed(name)

    def on_rollback(conn: Connection) -> None:
        if not conn.invalidated:
            conn.info.pop(_WRITTEN, None)

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "after_cursor_execute", after_execute)
    event.listen(sync_engine, "commit", on_commit)
    event.listen(sync_engine, "rollback", on_rollback)
