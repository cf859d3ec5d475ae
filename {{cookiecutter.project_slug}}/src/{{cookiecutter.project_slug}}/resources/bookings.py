"""Bookings, the example resource: its tables, the schemas the API reads and
writes, the list orders, and the queries its two routers share
(routers/bookings.py: the caller's own; routers/admin_bookings.py: everyone's).
"""

import base64
import functools
import secrets
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

from pydantic import model_validator
from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    bindparam,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Column, Field, SQLModel

from ..auth import Principal
from ..errors import ServiceError
from ..models import SQLITE_NO_REUSE, PartialUpdate, table_of, timestamp_field, utcnow
from ..pagination import SortKey
from ..reads import Reader
from ..resource_helpers import columns_of, not_found, owned_by, owner_values, readable_by
from ..schema_types import DbStr, JsonInt, Money, RowId, UtcDatetime
from ..statements import AnySelect
from .venues import Venue

# ---------------------------------------------------------------- tables


class BookingStatus(StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    cancelled = "cancelled"


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    # Each list's order, (start_datetime, id), behind the owner and each
    # filter a list takes: a page is one range of an index, filtered or not
    # (tests/test_list_filters.py holds every filter to it).
    __table_args__ = (
        Index("ix_bookings_start_datetime_id", "start_datetime", "id"),
        Index("ix_bookings_user_id_start_datetime_id", "user_id", "start_datetime", "id"),
        Index(
            "ix_bookings_user_id_status_start_datetime_id",
            "user_id",
            "status",
            "start_datetime",
            "id",
        ),
        Index("ix_bookings_status_start_datetime_id", "status", "start_datetime", "id"),
        Index("ix_bookings_venue_id_start_datetime_id", "venue_id", "start_datetime", "id"),
        SQLITE_NO_REUSE,
    )

    id: int | None = Field(default=None, primary_key=True)
    booking_reference: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    venue_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("venues.id", ondelete="SET NULL"), nullable=True),
    )
    title: str = Field(sa_column=Column(String(200), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    start_datetime: datetime = timestamp_field(nullable=False)
    end_datetime: datetime = timestamp_field(nullable=False)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = timestamp_field(default_factory=utcnow, nullable=False)
    updated_at: datetime = timestamp_field(default_factory=utcnow, nullable=False)


class BookingItem(SQLModel, table=True):
    __tablename__ = "booking_items"
    __table_args__ = (
        Index("ix_booking_items_booking_id", "booking_id"),
        SQLITE_NO_REUSE,
    )

    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(
        sa_column=Column(Integer, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False)
    )
    name: str = Field(sa_column=Column(String(200), nullable=False))
    quantity: int = Field(sa_column=Column(Integer, nullable=False))
    unit_price: Decimal = Field(sa_column=Column(Numeric(10, 2), nullable=False))


# ---------------------------------------------------------------- schemas


class BookingItemCreate(SQLModel):
    name: DbStr = Field(min_length=1, max_length=200)
    quantity: JsonInt = Field(ge=1, le=10_000)
    unit_price: Money


class BookingItemRead(BookingItemCreate):
    id: int


# The rule the validator below and the update route enforce, stated in the
# document (the schemas' descriptions), where clients and tools read it.
END_AFTER_START = "end_datetime must be after start_datetime"


class _BookingTimes(SQLModel):
    @model_validator(mode="after")
    def _ordered(self) -> Self:
        start, end = getattr(self, "start_datetime", None), getattr(self, "end_datetime", None)
        if start is not None and end is not None and end <= start:
            raise ValueError(END_AFTER_START)
        return self


class BookingCreate(_BookingTimes):
    """A new booking: end_datetime must be after start_datetime."""

    title: DbStr = Field(min_length=1, max_length=200)
    venue_id: RowId | None = None
    status: BookingStatus = BookingStatus.pending
    start_datetime: UtcDatetime
    end_datetime: UtcDatetime = Field(description=END_AFTER_START)
    notes: DbStr = Field(default="", max_length=10_000)
    items: list[BookingItemCreate] = Field(default_factory=list, max_length=100)


class BookingUpdate(PartialUpdate, _BookingTimes):
    """Partial update: only the fields sent are changed. end_datetime must be
    after start_datetime, each as sent or else as stored."""

    nullable = frozenset({"venue_id"})

    # Left out: kept. Only venue_id may be null (no venue); the others are
    # typed without None, so the document says what the server accepts.
    title: DbStr = Field(default=None, min_length=1, max_length=200)
    venue_id: RowId | None = None
    status: BookingStatus = Field(default=None)
    start_datetime: UtcDatetime = Field(default=None)
    end_datetime: UtcDatetime = Field(default=None, description=END_AFTER_START)
    notes: DbStr = Field(default=None, max_length=10_000)


class BookingSummary(SQLModel):
    """What list endpoints return: only the columns a list needs."""

    id: int
    booking_reference: str
    title: str
    status: BookingStatus
    start_datetime: datetime
    end_datetime: datetime
    venue_id: int | None


class BookingRead(BookingSummary):
    user_id: int
    notes: str
    created_at: datetime
    updated_at: datetime
    items: list[BookingItemRead] = []


# ---------------------------------------------------------------- queries


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
# The caller's own bookings: bind resource_helpers.owner_values(user).
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
