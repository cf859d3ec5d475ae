"""Exports written by PostgreSQL (COPY, copy_export.py) carry exactly what
the row-by-row path writes: the same bytes in JSON and NDJSON, the same
values in CSV, on rows with every awkward character."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from {{ cookiecutter.project_slug }} import export
from {{ cookiecutter.project_slug }}.resources.bookings import Booking

from tests.example import booking_body
from tests.helpers import csv_rows, export_both_ways

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
    for index, text in enumerate(AWKWARD):
        extra = {"notes": text} if index % 2 else {"notes": text, "title": text or "t"}
        body = booking_body(hours_from_base=index, **extra)
        response = await client.post(f"{api}/bookings", json=body, headers=headers)
        assert response.status_code == 201, response.text
    # Times with microseconds, and one at an exact second.
    async with app.state.engine.begin() as conn:
        exact = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
        await conn.execute(update(Booking).where(Booking.id % 2 == 0).values(created_at=exact))
        late = exact + timedelta(microseconds=120)
        await conn.execute(update(Booking).where(Booking.id % 3 == 0).values(updated_at=late))


@pytest.mark.parametrize("path", ["/bookings/export", "/admin/bookings/export"])
@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
async def test_copy_writes_what_the_rows_path_writes(
    postgresql, app, client, api, admin, monkeypatch, path, fmt
):
    await _awkward_bookings(app, client, api, admin)
    copies = []
    original = export.stream_copy

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
