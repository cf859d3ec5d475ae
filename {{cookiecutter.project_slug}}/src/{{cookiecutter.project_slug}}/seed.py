"""Bulk-load realistic fake data, fast.

Counts are targets, not increments: users, venues and bookings are topped up
to the numbers asked for, so running the command again is safe. PostgreSQL
loads through COPY; SQLite through batched multi-row INSERTs.
"""

import operator
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tqdm import tqdm

from .models import User, table_of
from .resources.bookings import BOOKING_FIELDS, Booking, BookingStatus, new_reference
from .resources.venues import Venue

T = TypeVar("T")
# A booking as the loader makes it: its values by column name, so the order
# of the model's columns never matters here.
BookingRow = dict[str, Any]

BATCH = 10_000
_WORDS = [
    "annual",
    "quarterly",
    "team",
    "board",
    "strategy",
    "product",
    "design",
    "review",
    "launch",
    "planning",
    "workshop",
    "offsite",
    "training",
    "summit",
    "kickoff",
    "retro",
    "client",
    "partner",
    "research",
    "demo",
    "budget",
    "hiring",
    "onboarding",
    "security",
    "roadmap",
    "sync",
    "lunch",
    "dinner",
    "gala",
    "concert",
]
_STATUSES = [status.value for status in BookingStatus]
_USERS, _VENUES, _BOOKINGS = table_of(User), table_of(Venue), table_of(Booking)
# What the loader writes: every booking column but the generated id.
BOOKING_COLUMNS = [name for name in BOOKING_FIELDS if name != "id"]
# A row's values in BOOKING_COLUMNS' order, for COPY. A column the loader
# does not fill stops it with a KeyError naming that column.
_IN_COLUMN_ORDER = operator.itemgetter(*BOOKING_COLUMNS)


def _text(rng: random.Random, length: int) -> str:
    words: list[str] = []
    while sum(len(word) + 1 for word in words) < length:
        words.append(rng.choice(_WORDS))
    return " ".join(words)[:length].strip().capitalize()


def _booking_rows(
    rng: random.Random, count: int, user_ids: list[int], venue_ids: list[int]
) -> Iterator[BookingRow]:
    now = datetime.now(UTC).replace(microsecond=0)
    # Drawing from pools of pre-made texts keeps generation off the profile.
    titles = [_text(rng, 40) for _ in range(997)]
    notes = [_text(rng, 200) for _ in range(991)]
    for index in range(count):
        start = now + timedelta(minutes=15 * rng.randint(-35_000, 35_000))
        yield {
            "booking_reference": new_reference(),
            "user_id": user_ids[index % len(user_ids)],
            "venue_id": rng.choice(venue_ids) if venue_ids else None,
            "title": titles[index % len(titles)],
            "status": rng.choice(_STATUSES),
            "start_datetime": start,
            "end_datetime": start + timedelta(minutes=30 * rng.randint(1, 8)),
            "notes": notes[index % len(notes)],
            "created_at": now,
            "updated_at": now,
        }


async def _count(conn: AsyncConnection, table: Table) -> int:
    return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def _ensure_users(conn: AsyncConnection, target: int) -> None:
    existing = await _count(conn, _USERS)
    now = datetime.now(UTC)
    rows = [
        {
            "email": f"seed-user-{index}@example.com",
            # No password and no token: seeded users cannot sign in.
            "is_admin": False,
            "is_active": True,
            "created_at": now,
        }
        for index in range(existing, target)
    ]
    if rows:
        await conn.execute(insert(_USERS), rows)


async def _ensure_venues(conn: AsyncConnection, target: int, rng: random.Random) -> None:
    existing = await _count(conn, _VENUES)
    now = datetime.now(UTC)
    rows = [
        {
            "name": f"{_text(rng, 20)} Hall {index}",
            "address": f"{index} {_text(rng, 24)} Street",
            "capacity": rng.randint(10, 2_000),
            "created_at": now,
        }
        for index in range(existing, target)
    ]
    if rows:
        await conn.execute(insert(_VENUES), rows)


def _batches(rows: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    """Lists of `size` rows (itertools.batched needs Python 3.12)."""
    batch: list[T] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# Quoted: tqdm is generic only in its stubs.
async def _copy_bookings(
    conn: AsyncConnection, rows: Iterable[BookingRow], bar: "tqdm[Any]"
) -> None:
    # Run one statement through SQLAlchemy first so its transaction is open on
    # the driver connection: every COPY below then commits (or not) as one.
    await conn.execute(select(1))
    driver: Any = (await conn.get_raw_connection()).driver_connection  # asyncpg's
    for batch in _batches(rows):
        records = [_IN_COLUMN_ORDER(row) for row in batch]
        await driver.copy_records_to_table("bookings", records=records, columns=BOOKING_COLUMNS)
        bar.update(len(batch))


async def _insert_bookings(
    conn: AsyncConnection, rows: Iterable[BookingRow], bar: "tqdm[Any]"
) -> None:
    statement = insert(_BOOKINGS)
    for batch in _batches(rows):
        await conn.execute(statement, batch)
        bar.update(len(batch))


async def seed(engine: AsyncEngine, users: int, bookings: int, venues: int, seed: int = 1) -> int:
    """Top the tables up to the given counts; return the number of bookings added."""
    rng = random.Random(seed)
    async with engine.begin() as conn:
        await _ensure_users(conn, users)
        await _ensure_venues(conn, venues, rng)
        user_ids: list[int] = list(await conn.scalars(select(_USERS.c.id).order_by(_USERS.c.id)))
        venue_ids: list[int] = list(await conn.scalars(select(_VENUES.c.id).order_by(_VENUES.c.id)))
        missing = max(0, bookings - await _count(conn, _BOOKINGS))
    if missing == 0:
        return 0
    if not user_ids:
        raise ValueError("bookings need at least one user: pass --users 1 or more")
    rows = _booking_rows(rng, missing, user_ids, venue_ids)
    with tqdm(total=missing, unit="bookings", desc="seeding", disable=None) as bar:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await _copy_bookings(conn, rows, bar)
            else:
                await _insert_bookings(conn, rows, bar)
    # Fresh statistics: until the planner knows the new row counts it may
    # pick full scans and sorts over the indexes.
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    return missing
