"""Booking queries shared by the caller's and the administrators' routers."""

import base64
import functools
import secrets
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .auth import Principal
from .counts import AnySelect
from .crud import columns_of, not_found, owned_by, owner_values, readable_by
from .errors import ServiceError
from .models import (
    Booking,
    BookingItem,
    BookingItemCreate,
    BookingItemRead,
    BookingRead,
    BookingSummary,
    Venue,
    table_of,
)
from .pagination import SortKey
from .reads import Reader

BOOKINGS = table_of(Booking)
# List queries select only these columns, never whole rows (notes can be long).
SUMMARY_COLUMNS = columns_of(Booking, BookingSummary)
# Exports carry every column of the booking itself (items are not included).
BOOKING_FIELDS = (
    "id",
    "booking_reference",
    "user_id",
    "venue_id",
    "title",
    "status",
    "start_datetime",
    "end_datetime",
    "notes",
    "created_at",
    "updated_at",
)
EXPORT_COLUMNS = [BOOKINGS.c[name] for name in BOOKING_FIELDS]
SUMMARY_SELECT = select(*SUMMARY_COLUMNS)
EXPORT_SELECT = select(*EXPORT_COLUMNS)
# The caller's own bookings: bind crud.owner_values(user).
MY_SUMMARIES = owned_by(SUMMARY_SELECT, Booking)
MY_EXPORT = owned_by(EXPORT_SELECT, Booking)


class BookingSort(StrEnum):
    """The orders a client may ask for; each has an index behind it."""

    newest_first = "-start_datetime"
    oldest_first = "start_datetime"


# The primary key breaks ties between bookings that start at the same time.
BOOKING_SORTS = {
    BookingSort.newest_first: SortKey((Booking.start_datetime, Booking.id), descending=True),
    BookingSort.oldest_first: SortKey((Booking.start_datetime, Booking.id), descending=False),
}


def new_reference() -> str:
    """BK- plus 80 random bits: collisions are negligible even at millions of rows."""
    return "BK-" + base64.b32encode(secrets.token_bytes(10)).decode()


# The filters a list or an export may apply, each binding the value of its name.
_FILTERS: dict[str, ColumnElement[bool]] = {
    "status": BOOKINGS.c.status == bindparam("status"),
    "user_id": BOOKINGS.c.user_id == bindparam("user_id"),
    "venue_id": BOOKINGS.c.venue_id == bindparam("venue_id"),
    "start_from": BOOKINGS.c.start_datetime >= bindparam("start_from"),
    "start_before": BOOKINGS.c.start_datetime < bindparam("start_before"),
}


def matching(stmt: AnySelect, **filters: object) -> tuple[AnySelect, dict[str, Any]]:
    """`stmt` filtered by each value given (None: no filter on it), and the
    values to bind: the statement is built once per set of filters."""
    given = {name: value for name, value in filters.items() if value is not None}
    return filtered(stmt, tuple(given)), given


@functools.lru_cache(maxsize=256)
def filtered(stmt: AnySelect, names: tuple[str, ...]) -> AnySelect:
    """`stmt` with the filters `names` (see matching)."""
    return stmt.where(*(_FILTERS[name] for name in names)) if names else stmt


def utc_day_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) of the current UTC day."""
    start = datetime.combine((now or datetime.now(UTC)).date(), time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


# A booking and its items in one statement: the booking's columns repeat on
# each item's row (at most 100 items), which costs less than a second round trip.
_READ_FIELDS = [name for name in BookingRead.model_fields if name != "items"]
_ITEM_FIELDS = list(BookingItemRead.model_fields)
_ITEMS = table_of(BookingItem)
_READ_SELECT = (
    select(
        *(BOOKINGS.c[name] for name in _READ_FIELDS),
        *(_ITEMS.c[name].label(f"item_{name}") for name in _ITEM_FIELDS),
    )
    .outerjoin(_ITEMS, _ITEMS.c.booking_id == BOOKINGS.c.id)
    .where(BOOKINGS.c.id == bindparam("booking_id"))
    .order_by(_ITEMS.c.id)
)


async def read_booking_or_404(reader: Reader, booking_id: int, owner: Principal) -> dict[str, Any]:
    """A booking with its items, as BookingRead's fields, else 404 (also for
    another user's booking, unless `owner` is an administrator)."""
    stmt = readable_by(_READ_SELECT, Booking, owner)
    rows = await reader.rows(stmt, {"booking_id": booking_id, **owner_values(owner)})
    if not rows:
        raise not_found(Booking, booking_id)
    booking = {name: rows[0][name] for name in _READ_FIELDS}
    booking["items"] = [
        {name: row[f"item_{name}"] for name in _ITEM_FIELDS}
        for row in rows
        if row["item_id"] is not None
    ]
    return booking


async def add_items(
    session: AsyncSession, booking_id: int, items: list[BookingItemCreate]
) -> list[dict[str, Any]]:
    """Insert a booking's items in one statement on both databases (the ORM's
    unit of work sends one INSERT per row on SQLite, to learn each new id);
    returned as BookingItemRead's fields, as stored, in id order."""
    if not items:
        return []
    rows = await session.execute(
        insert(BookingItem).returning(*(getattr(BookingItem, name) for name in _ITEM_FIELDS)),
        [{**item.model_dump(), "booking_id": booking_id} for item in items],
    )
    return sorted((row._asdict() for row in rows), key=lambda item: item["id"])


async def items_of(session: AsyncSession, booking_id: int) -> list[BookingItem]:
    stmt = select(BookingItem).where(_ITEMS.c.booking_id == booking_id).order_by(_ITEMS.c.id)
    return list(await session.scalars(stmt))


async def ensure_venue(session: AsyncSession, venue_id: int | None) -> None:
    if venue_id is not None and await session.get(Venue, venue_id) is None:
        # 409, not 422: the request is valid, the venue it names is not there
        # (now: one may be created, or was just deleted).
        raise ServiceError(409, f"venue_id: venue {venue_id} does not exist")
