"""The async engine, its pool, and the request-scoped session dependency.

The engine is created in the application's lifespan, so each worker process
builds its own pool after fork and never shares connections with another.
"""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    """An async engine tuned for the configured database."""
    if settings.is_sqlite:
        return _sqlite_engine(settings)
    return _postgresql_engine(settings)


def _postgresql_engine(settings: Settings) -> AsyncEngine:
    cache_size = settings.db_statement_cache_size
    connect_args: dict[str, object] = {
        # asyncpg's own cache and SQLAlchemy's cache of prepared statements.
        "statement_cache_size": cache_size,
        "prepared_statement_cache_size": cache_size,
    }
    if cache_size == 0:
        # Behind PgBouncer (transaction mode) prepared statement names must be
        # unique per statement, or two clients sharing a backend collide.
        connect_args["prepared_statement_name_func"] = lambda: f"__asyncpg_{uuid.uuid4()}__"
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _sqlite_engine(settings: Settings) -> AsyncEngine:
    # A file database: a small queue pool; WAL lets readers run beside the
    # single writer, and busy_timeout makes a writer wait instead of failing.
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_args={"timeout": settings.db_pool_timeout},
    )
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit without a
    # second round trip, which response serialization relies on.
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; rolled back (never committed) on any error."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise


# scope="function": the session closes (and its connection returns to the pool)
# as soon as the route function returns, before the response is sent. A slow
# client or a long streamed response never holds a connection it does not use;
# streams that need the database open a session of their own (export.py).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
