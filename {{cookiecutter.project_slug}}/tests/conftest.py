"""Fixtures: a migrated database, the app with its lifespan running, clients.

Tests run on SQLite by default. Set TEST_DATABASE_URL to a
postgresql+asyncpg:// URL to run the same tests on PostgreSQL (the database
is reset: every table is dropped and migrated again). `--slow` adds the slow
tier, the tests marked slow.
"""

import asyncio
import contextlib
import functools
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import MetaData, NullPool, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.db import migration_connect_args
from {{ cookiecutter.project_slug }}.migrations import downgrade, upgrade
from {{ cookiecutter.project_slug }}.settings import Settings, load_settings

from tests.helpers import OPS_TOKEN, bearer
from tests.redis_server import RedisServer

# The make_user fixture: (email, admin=False) -> Authorization headers.
MakeUser = Callable[..., Awaitable[dict[str, str]]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        help="run the slow tier too: real servers and signals, a browser, memory peaks, leak checks",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --slow, tests marked slow are skipped, saying how to run them:
    the default run stays short enough to follow every change."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow tier: `pytest --slow` runs it")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


@pytest.fixture
def anyio_backend() -> str:
    # Async tests (marked anyio) run on asyncio through AnyIO's pytest plugin.
    return "asyncio"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """A migrated database: SQLite in this run's temporary directory (each
    xdist worker has its own), or TEST_DATABASE_URL's, where each xdist worker
    tests in a database of its own beside it (`test` -> `test_gw0`), made
    here and dropped after: workers would otherwise empty each other's tables."""
    url = os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    )
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and url.startswith("postgresql"):
        with _database_of_its_own(url, worker) as own_url:
            yield _migrated(own_url)
    elif worker and (file := make_url(url).database):
        # A SQLite file named by TEST_DATABASE_URL: each worker its own beside it.
        path = Path(file)
        own = make_url(url).set(database=str(path.with_stem(f"{path.stem}_{worker}")))
        yield _migrated(own.render_as_string(hide_password=False))
    else:
        yield _migrated(url)


def _migrated(url: str) -> str:
    downgrade(url, "base")
    upgrade(url)
    return url


@contextlib.contextmanager
def _database_of_its_own(url: str, worker: str) -> Iterator[str]:
    """A new database on the server of `url`, named after its database and
    `worker`, dropped on leaving (FORCE: a pooler may still hold connections)."""
    name = f"{make_url(url).database}_{worker}"
    drop = "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    asyncio.run(_execute(url, drop, "CREATE DATABASE {name}", name=name))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_execute(url, drop, name=name))


async def _execute(url: str, *statements: str, name: str) -> None:
    """Run `statements`, {name} quoted, outside a transaction (as CREATE
    DATABASE must), connected as the service connects (TLS settings)."""
    settings = load_settings(database_url=url, _env_file=None)
    engine = create_async_engine(
        url, poolclass=NullPool, connect_args=migration_connect_args(settings)
    )
    try:
        async with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(name)
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            for statement in statements:
                # asyncpg's simple protocol: nothing prepared, which a pooler
                # in transaction mode could send to another server connection.
                await driver.execute(statement.format(name=quoted))
    finally:
        await engine.dispose()


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return load_settings(
        database_url=database_url,
        upload_dir=tmp_path / "uploads",
        metrics_token=OPS_TOKEN,
        _env_file=None,
    )


_tables: dict[str, list[str]] = {}


def _tables_children_first(connection) -> list[str]:
    """Every table the migrations made (resources added later too), quoted,
    those referring to others first. Read once per database."""
    url = connection.engine.url.render_as_string()
    if url not in _tables:
        metadata = MetaData()
        metadata.reflect(connection)
        quote = connection.dialect.identifier_preparer.quote
        _tables[url] = [
            quote(table.name)
            for table in reversed(metadata.sorted_tables)
            if table.name != "alembic_version"
        ]
    return _tables[url]


async def _empty_tables(app) -> None:
    async with app.state.engine.begin() as conn:
        tables = await conn.run_sync(_tables_children_first)
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def app(settings):
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app
        await _empty_tables(app)


@pytest.fixture
def app_with(settings):
    """app_with(**overrides): an app (lifespan running) with other settings."""

    @contextlib.asynccontextmanager
    async def make(**overrides):
        app = create_app(settings.model_copy(update=overrides))
        async with app.router.lifespan_context(app):
            try:
                yield app
            finally:
                await _empty_tables(app)

    return make


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
def api(settings: Settings) -> str:
    """The API prefix, so tests read like the URLs clients use."""
    return settings.api_prefix


@pytest.fixture
def make_user(app):
    """make_user(email, admin=False) -> Authorization headers for a new user."""

    return functools.partial(bearer, app)


@pytest.fixture
async def alice(make_user: MakeUser) -> dict[str, str]:
    return await make_user("alice@example.org")


@pytest.fixture
async def bob(make_user: MakeUser) -> dict[str, str]:
    return await make_user("bob@example.org")


@pytest.fixture
async def admin(make_user: MakeUser) -> dict[str, str]:
    return await make_user("admin@example.org", admin=True)


@pytest.fixture
async def unlimited_app(app_with):
    """The app without rate limits (hundreds of calls) and an admin's headers.
    The memory probe is paused and the per-worker caches of users and totals
    outlast the test: samples pile up with time, and entries expire and come
    back with time, not with calls; on a slow machine either would read as
    growth per call."""
    hour = 3_600
    quiet = {"memory_sample_interval_ms": hour * 1000, "auth_cache_seconds": hour}
    async with app_with(rate_limit_enabled=False, count_cache_seconds=hour, **quiet) as app:
        yield app, await bearer(app, "leaks@example.org", admin=True)


@pytest.fixture
def redis_server():
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("REQUIRE_REDIS"):
            pytest.fail("REQUIRE_REDIS is set but redis-server is not installed")
        pytest.skip("needs redis-server (Debian: apt-get install redis-server)")
    server = RedisServer(binary)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()
