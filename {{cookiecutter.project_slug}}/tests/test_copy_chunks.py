"""How COPY's output leaves the database for the client (copy_export.copy_chunks):
joined into chunks of CHUNK_BYTES, yet never held back while rows trickle in,
and a database that sends nothing is a timeout, not a hang."""

import pytest
from sqlalchemy import text

from {{ cookiecutter.project_slug }} import copy_export

pytestmark = pytest.mark.anyio


@pytest.fixture
def postgresql(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("COPY exports are PostgreSQL's; SQLite exports row by row")


async def _chunks(app, sql: str, stall: float = 10.0) -> list[bytes]:
    compiled = text(sql).compile(dialect=app.state.engine.dialect)
    query = copy_export.CopyQuery(compiled.string, compiled)
    async with app.state.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        options = {"format": "csv"}
        return [chunk async for chunk in copy_export.copy_chunks(driver, query, {}, options, stall)]


async def test_pieces_are_joined_into_chunks(postgresql, app):
    # About 1 MiB, which PostgreSQL sends in pieces of about 8 KiB.
    rows = 10_000
    chunks = await _chunks(app, f"SELECT repeat('x', 99) FROM generate_series(1, {rows})")
    assert b"".join(chunks) == (b"x" * 99 + b"\n") * rows
    assert all(len(chunk) >= copy_export.CHUNK_BYTES for chunk in chunks[:-1])
    assert len(chunks) <= rows * 100 // copy_export.CHUNK_BYTES + 1


async def test_rows_that_trickle_in_are_not_held_back(postgresql, app):
    # Three rows of 20 KB, half a second apart: together less than one
    # chunk, so only the flush after FLUSH_SECONDS sends them before the end.
    sql = "SELECT repeat('y', 20000), pg_sleep(0.5) FROM generate_series(1, 3)"
    chunks = await _chunks(app, sql)
    assert b"".join(chunks) == (b"y" * 20000 + b',""\n') * 3  # pg_sleep() is void: ''
    assert len(chunks) >= 2, [len(chunk) for chunk in chunks]


async def test_a_database_that_sends_nothing_times_out(postgresql, app):
    with pytest.raises(TimeoutError, match=r"no export data from the database for 0\.5 s"):
        await _chunks(app, "SELECT pg_sleep(3)", stall=0.5)
