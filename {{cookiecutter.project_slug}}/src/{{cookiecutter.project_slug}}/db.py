"""The async engine, its pool, and the write session dependency.

The engine is created in the application's lifespan, so each worker process
builds its own pool after fork and never shares connections with another.
Writes use a session (SessionDep) that connects at its first statement;
reads go through reads.Reader.
"""

import contextlib
import logging
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm.exc import StaleDataError

from .errors import ServiceError
from .process.schema import CLI
from .settings import Settings

logger = logging.getLogger(__name__)


def create_engine(settings: Settings) -> AsyncEngine:
    """An async engine tuned for the configured database."""
    if settings.is_sqlite:
        return _sqlite_engine(settings)
    return _postgresql_engine(settings)


def _postgresql_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        # Off by default: a round trip per checkout. Reads retry once on a
        # connection found dead instead (reads.Reader).
        pool_pre_ping=settings.db_pool_pre_ping,
        # Most recently used first: a few connections stay warm (their prepared
        # statements cached) and the rest can idle out on the server side.
        pool_use_lifo=True,
        connect_args=postgresql_connect_args(settings),
    )


def postgresql_connect_args(settings: Settings) -> dict[str, object]:
    """asyncpg's connect() arguments: statement caches, time limits and TLS."""
    return {
        **migration_connect_args(settings),
        # A database host that does not answer fails the connect after this,
        # not after asyncpg's default of 60 s.
        "timeout": settings.db_pool_timeout,
        # A statement with no answer (a hung or frozen server, a lock held
        # for ever) fails after this, client side: a 503 database_unavailable
        # instead of a request that waits as long as the database does.
        "command_timeout": settings.db_statement_timeout_seconds,
    }


def migration_connect_args(settings: Settings) -> dict[str, object]:
    """What migrations share with the service: TLS and the statement caches
    (no time limit: building an index may rightly take long)."""
    cache_size = settings.db_statement_cache_size
    connect_args: dict[str, object] = {
        # asyncpg's own cache and SQLAlchemy's cache of prepared statements.
        "statement_cache_size": cache_size,
        "prepared_statement_cache_size": cache_size,
        "ssl": tls_context(settings),
    }
    if cache_size == 0:
        # Behind PgBouncer (transaction mode) prepared statement names must be
        # unique per statement: a server connection keeps the statements an
        # earlier client prepared, so asyncpg's numbered names would collide.
        connect_args["prepared_statement_name_func"] = lambda: f"__asyncpg_{uuid.uuid4()}__"
    return connect_args


def tls_context(settings: Settings) -> ssl.SSLContext | bool:
    """DB_SSL_MODE as asyncpg's `ssl` argument.

    An explicit context rather than asyncpg's mode strings: those read the
    root certificate from PGSSLROOTCERT or ~/.postgresql, not from our
    settings. False (not None) for disable, or asyncpg would try TLS first.
    """
    if settings.db_ssl_mode == "disable":
        return False
    if settings.db_ssl_mode == "require":
        # libpq's `require`: encrypted, but any certificate is accepted.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    # verify-full: the chain must end at DB_SSL_ROOT_CERT (the system's CAs
    # when unset) and the certificate must name the host of DATABASE_URL.
    cafile = str(settings.db_ssl_root_cert) if settings.db_ssl_root_cert else None
    return ssl.create_default_context(cafile=cafile)


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


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: object) -> None:
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


def create_read_sessionmaker(
    engine: AsyncEngine, settings: Settings
) -> async_sessionmaker[AsyncSession]:
    """Sessions for GET and HEAD requests: same pool, no transaction.

    At READ COMMITTED every statement takes its own snapshot anyway, so a
    BEGIN ... ROLLBACK around reads buys nothing and costs two round trips
    per request. Reads only: a GET that wrote would commit statement by
    statement, so writes belong in POST, PATCH and DELETE routes.
    """
    return async_sessionmaker(read_engine(engine, settings), expire_on_commit=False)


def read_engine(engine: AsyncEngine, settings: Settings) -> AsyncEngine:
    """The engine reads use: autocommit, so no BEGIN ... ROLLBACK round trips.

    Except behind a transaction pooler (PgBouncer in transaction mode, which
    DB_STATEMENT_CACHE_SIZE=0 declares): asyncpg prepares a statement and
    executes it in two messages, and only a transaction keeps both on one
    server connection. In autocommit the pooler may hand them to two, and
    the second fails with "prepared statement ... does not exist".
    """
    if settings.db_statement_cache_size == 0:
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


_READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; rolled back (never committed) on any error.

    Errors of the routes and dependencies using it pass through here: a
    database that cannot be reached, or a pool with no free connection,
    becomes a 503 the client can retry instead of a 500.
    """
    state = request.app.state
    factory = state.read_sessionmaker if request.method in _READ_METHODS else state.sessionmaker
    async with factory() as session:
        try:
            yield session
        except BaseException as exc:
            with contextlib.suppress(Exception):  # on a dead connection this fails too
                await session.rollback()
            if (unavailable := database_unavailable(exc)) is not None:
                logger.warning(
                    "%s %s: %s (%s)", request.method, request.url.path, unavailable, describe(exc)
                )
                raise unavailable from None
            if isinstance(exc, StaleDataError):
                # The row was loaded, then deleted by a concurrent request
                # before this one's UPDATE or DELETE: it no longer exists.
                raise ServiceError(404, "Not found: deleted by another request") from None
            raise


def database_unavailable(exc: BaseException) -> ServiceError | None:
    """The 503 for an error that means "no database now", else None."""
    if isinstance(exc, sa_exc.TimeoutError):  # every pooled connection in use
        return ServiceError(
            503, "All database connections are busy", "database_busy", {"Retry-After": "1"}
        )
    # A table or column the code needs and the database lacks: the schema is
    # behind the code (a worker that started while the database was out of
    # reach, or a database restored from an older dump). Start-up refuses such
    # a database (process/schema.py); here a request says so too, never a 500.
    if _schema_behind(exc):
        return ServiceError(
            503,
            f"Database not migrated: run `{CLI} migrate`",
            "database_not_migrated",
            {"Retry-After": "5"},
        )
    # A connection refused, reset or timed out while connecting surfaces from
    # the driver as is; once connected, SQLAlchemy wraps a lost connection
    # and marks it, and PostgreSQL says "shutting down" or "starting up" with
    # SQLSTATE classes 08 and 57P. Anything else (a broken query) is a bug: a
    # 500, logged with its traceback.
    lost = isinstance(exc, ConnectionError | TimeoutError | socket.gaierror) or (
        isinstance(exc, sa_exc.DBAPIError)
        and (exc.connection_invalidated or _sqlstate(exc).startswith(("08", "57P")))
    )
    if lost:
        return ServiceError(
            503, "Database unavailable", "database_unavailable", {"Retry-After": "5"}
        )
    return None


# PostgreSQL's undefined_table and undefined_column; SQLite's own words.
_UNDEFINED_SQLSTATES = ("42P01", "42703")
_SQLITE_UNDEFINED = ("no such table", "no such column", "has no column named")


def _schema_behind(exc: BaseException) -> bool:
    if not isinstance(exc, sa_exc.ProgrammingError | sa_exc.OperationalError):
        return False
    message = str(exc.orig)
    return _sqlstate(exc) in _UNDEFINED_SQLSTATES or any(w in message for w in _SQLITE_UNDEFINED)


def _sqlstate(exc: sa_exc.DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")


def describe(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {original}"[:200]


# scope="function": the session closes (and its connection returns to the pool)
# as soon as the route function returns, before the response is sent. A slow
# client or a long streamed response never holds a connection it does not use;
# streams that need the database open a session of their own (export.py).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
