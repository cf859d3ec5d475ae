import pytest
from fastapi import APIRouter, Request
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import QueuePool

from {{ cookiecutter.project_slug }} import db
from {{ cookiecutter.project_slug }}.db import SessionDep
from {{ cookiecutter.project_slug }}.errors import ServiceError
from {{ cookiecutter.project_slug }}.models import User
from {{ cookiecutter.project_slug }}.settings import load_settings

from tests.helpers import assert_error

pytestmark = pytest.mark.anyio


def test_postgresql_pool_follows_settings(monkeypatch):
    seen = {}
    real = create_async_engine

    def spy(url, **kwargs):
        seen.update(kwargs)
        return real(url, **kwargs)

    monkeypatch.setattr(db, "create_async_engine", spy)
    settings = load_settings(
        database_url="postgresql+asyncpg://u:p@127.0.0.1:1/db",
        db_pool_size=4,
        db_max_overflow=2,
        db_pool_timeout=7,
        db_pool_recycle=600,
        db_statement_cache_size=0,
        _env_file=None,
    )
    engine = db.create_engine(settings)  # creating an engine does not connect
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    assert (pool.size(), pool._max_overflow, pool._timeout, pool._recycle) == (4, 2, 7, 600)
    assert pool._pre_ping is False  # reads retry on a dead connection instead
    assert pool._pool.use_lifo is True
    connect_args = seen["connect_args"]
    assert connect_args["statement_cache_size"] == 0
    assert connect_args["prepared_statement_cache_size"] == 0
    # With no cache (PgBouncer), statement names must be unique.
    name_func = connect_args["prepared_statement_name_func"]
    assert name_func() != name_func()


async def test_connection_settings_reach_the_driver(app):
    engine = app.state.engine
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await conn.scalar(text("PRAGMA foreign_keys"))) == 1
        else:
            raw = await conn.get_raw_connection()
            size = app.state.settings.db_statement_cache_size
            assert raw.driver_connection._stmt_cache.get_max_size() == size


async def test_reads_run_without_a_transaction_and_writes_with_one(app, client, api, alice):
    router = APIRouter()
    seen = {}

    @router.api_route("/_test/in-transaction", methods=["GET", "POST"])
    async def in_transaction(request: Request, session: SessionDep):
        await session.execute(text("SELECT 1"))
        connection = await session.connection()
        assert connection.sync_connection is not None
        options = connection.sync_connection.get_execution_options()
        seen[request.method] = options.get("isolation_level")
        return {}

    app.include_router(router, prefix=api)
    assert (await client.get(f"{api}/_test/in-transaction")).status_code == 200
    assert (await client.post(f"{api}/_test/in-transaction")).status_code == 200
    # Behind a transaction pooler (DB_STATEMENT_CACHE_SIZE=0) reads need one too.
    pooled = app.state.settings.db_statement_cache_size == 0
    assert seen["GET"] == (None if pooled else "AUTOCOMMIT")
    assert seen["POST"] != "AUTOCOMMIT"


async def test_session_rolls_back_when_the_request_fails(app, client, api):
    router = APIRouter()

    @router.post("/_test/fail-after-write")
    async def fail_after_write(session: SessionDep):
        session.add(User(email="never-committed@example.org"))
        await session.flush()
        raise ServiceError(409, "conflict after a write")

    app.include_router(router, prefix=api)
    response = await client.post(f"{api}/_test/fail-after-write")
    assert_error(response, 409, "conflict")
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
