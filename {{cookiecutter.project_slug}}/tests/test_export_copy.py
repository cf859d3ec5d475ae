"""Exports written by PostgreSQL (COPY, copy_export.py) carry exactly what
the row-by-row path writes: the same bytes in JSON and NDJSON, the same
values in CSV, on rows with every awkward character."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update
from sqlmodel import col

from {{ cookiecutter.project_slug }} import copy_export, export
from {{ cookiecutter.project_slug }}.resources.bookings import Booking
from {{ cookiecutter.project_slug }}.seed import seed

from tests.conftest import client_for
from tests.example import booking_body
from tests.helpers import csv_rows, export_both_ways
from tests.test_streaming import _wait_for, serving

pytestmark = pytest.mark.anyio

AWKWARD = [
    "quotes \" and 'single', commas, semicolons;",
    "new\nlines\r\nand\ttabs",
    "back\\slashes \\n \\\\ and a trailing one\\",
    "unicode: café, 漢字, emoji 🚀, combining é, RTL עברית",
    "controls \x01 \x08 \x0c \x1f and DEL \x7f, line separator \u2028",
    "",
    "null-looking: NULL \\N null",
    '{"json": "inside", "a": [1, 2]}',
]


@pytest.fixture
def postgresql(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("COPY exports are PostgreSQL's; SQLite exports row by row")


async def _awkward_bookings(app, client, api, headers) -> None:
    for index, words in enumerate(AWKWARD):
        extra = {"notes": words} if index % 2 else {"notes": words, "title": words or "t"}
        body = booking_body(hours_from_base=index, **extra)
        response = await client.post(f"{api}/bookings", json=body, headers=headers)
        assert response.status_code == 201, response.text
    # Times at an exact second, with microseconds, and with a fraction that
    # PostgreSQL writes shorter (.5 for .500000).
    async with app.state.engine.begin() as conn:
        exact = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
        await conn.execute(update(Booking).where(col(Booking.id) % 2 == 0).values(created_at=exact))
        late = exact + timedelta(microseconds=120)
        await conn.execute(update(Booking).where(col(Booking.id) % 3 == 0).values(updated_at=late))
        half = exact + timedelta(milliseconds=500)
        await conn.execute(
            update(Booking).where(col(Booking.id) % 5 == 0).values(start_datetime=half)
        )


@pytest.mark.parametrize("path", ["/bookings/export", "/admin/bookings/export"])
@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
async def test_copy_writes_what_the_rows_path_writes(
    postgresql, app, client, api, admin, monkeypatch, path, fmt
):
    await _awkward_bookings(app, client, api, admin)
    copies = []
    original = copy_export.stream_copy

    def counted(*args, **kwargs):
        copies.append(fmt)
        return original(*args, **kwargs)

    monkeypatch.setattr(export, "stream_copy", counted)
    url = f"{api}{path}?format={fmt}"
    copied, rows = await export_both_ways(app, client, admin, url)
    assert copies == [fmt]  # the first export took the COPY path, the second did not
    if fmt == "csv":
        assert csv_rows(copied) == csv_rows(rows)
        assert len(csv_rows(rows)) == len(AWKWARD) + 1
    else:
        assert copied == rows
        assert rows.count(b"\n") == (len(AWKWARD) if fmt == "ndjson" else 0)


async def _sessions(app) -> list[tuple[str, str]]:
    """(state, query) of the database's other sessions (query: the last one)."""
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT state, query FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = current_database()"
            )
        )
        return [(row.state or "", row.query or "") for row in rows]


def _copying(sessions: list[tuple[str, str]]) -> bool:
    return any(state == "active" and query.startswith("COPY") for state, query in sessions)


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
async def test_a_client_leaving_ends_the_copy_on_the_server(postgresql, app, make_user, api, fmt):
    """The COPY stops on the server (not left to run, or to block on a full
    socket) and its place in the pool is free again; nothing is left in a
    transaction."""
    headers = await make_user("leaver@example.org", admin=True)
    await seed(app.state.engine, users=3, bookings=30_000, venues=2)
    pool = app.state.engine.pool
    async with serving(app) as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET {api}/admin/bookings/export?format={fmt} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {headers['Authorization']}\r\n\r\n".encode()
        )
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        # The client stops reading: the COPY waits on it, in the database.
        assert await _wait_for_async(lambda: _sessions(app), _copying)
        writer.close()
        await writer.wait_closed()
        assert await _wait_for(lambda: pool.checkedout() == 0), pool.status()
        sessions = await _sessions(app)
        assert not _copying(sessions), sessions
        # The pool's connections are idle, outside any transaction.
        assert all(state == "idle" for state, _ in sessions), sessions
    async with client_for(app) as client:
        again = await client.get(f"{api}/admin/bookings?page_size=1", headers=headers)
        assert again.status_code == 200


async def _wait_for_async(read, condition, seconds: float = 10.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if condition(await read()):
            return True
        await asyncio.sleep(0.05)
    return False
