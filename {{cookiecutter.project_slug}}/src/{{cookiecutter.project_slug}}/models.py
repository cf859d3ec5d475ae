"""Tables of the example domain and the schemas the API reads and writes.

Tables (table=True) map rows; the other classes are request and response
schemas, so a client can never set a column the API does not expose.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import model_validator
from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlmodel import Column, Field, SQLModel

from .schema_types import MAX_ID, DbStr, JsonInt, Money, RowId, UtcDatetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The Table behind a table model, for SQLAlchemy Core statements."""
    table: Table = model.__table__  # type: ignore[attr-defined]  # set by SQLModel, undeclared
    return table


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend.

    PostgreSQL stores timestamptz; SQLite has no time zones and hands back
    naive values, which are UTC here because only UTC is ever written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return datetime  # TypeDecorator does not pass its impl's on

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        return value.astimezone(UTC) if value is not None else None

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        if dialect.name == "postgresql":
            return None  # asyncpg returns timestamptz aware already: no per-value call
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# Ids are never handed out twice, on SQLite too (migration 0004).
SQLITE_NO_REUSE = {"sqlite_autoincrement": True}

# Indexes are declared with their tables (for autogenerate and `alembic check`)
# and created by the migrations 0002 and 0003, which say which query each serves.


def _timestamp(**kwargs: Any) -> Any:
    # Any, as sqlmodel.Field returns it: it stands for the field's value.
    return Field(sa_type=UTCDateTime, **kwargs)


class BookingStatus(StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    cancelled = "cancelled"


# ---------------------------------------------------------------- tables


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = SQLITE_NO_REUSE

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    # argon2id (passwords.py); None: no password, the user signs in with tokens only.
    password_hash: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    is_admin: bool = Field(default=False, nullable=False)
    # A disabled user's tokens stop working and it cannot log in.
    is_active: bool = Field(default=True, nullable=False)
    created_at: datetime = _timestamp(default_factory=utcnow, nullable=False)


class Token(SQLModel, table=True):
    """A bearer token: many per user. Only its sha256 is stored; a login's
    expires after TOKEN_TTL_HOURS, one made by the CLI when revoked."""

    __tablename__ = "tokens"
    __table_args__ = (
        Index("ix_tokens_user_id", "user_id"),
        SQLITE_NO_REUSE,
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = _timestamp(default_factory=utcnow, nullable=False)
    expires_at: datetime | None = _timestamp(default=None, nullable=True)
    # Written at most once per auth.LAST_USED_EVERY per token, never per request.
    last_used_at: datetime | None = _timestamp(default=None, nullable=True)


class Venue(SQLModel, table=True):
    __tablename__ = "venues"
    __table_args__ = (
        Index("ix_venues_name_id", "name", "id"),
        SQLITE_NO_REUSE,
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    address: str = Field(default="", sa_column=Column(String(500), nullable=False))
    capacity: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_at: datetime = _timestamp(default_factory=utcnow, nullable=False)


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_user_id_status", "user_id", "status"),
        Index("ix_bookings_start_datetime_id", "start_datetime", "id"),
        Index("ix_bookings_user_id_start_datetime_id", "user_id", "start_datetime", "id"),
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
    start_datetime: datetime = _timestamp(nullable=False)
    end_datetime: datetime = _timestamp(nullable=False)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = _timestamp(default_factory=utcnow, nullable=False)
    updated_at: datetime = _timestamp(default_factory=utcnow, nullable=False)


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


class Upload(SQLModel, table=True):
    """Metadata of a stored upload. The file lives in UPLOAD_DIR under `id`;
    `filename` is the client's name, sanitized, kept for display only."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_user_id_created_at_id", "user_id", "created_at", "id"),)

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    filename: str = Field(sa_column=Column(String(255), nullable=False))
    content_type: str = Field(sa_column=Column(String(127), nullable=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = _timestamp(default_factory=utcnow, nullable=False)


# ---------------------------------------------------------------- schemas


class PartialUpdate(SQLModel):
    """Base of PATCH bodies: a field left out is kept; null is refused (422)
    unless the field is in `nullable`, rather than failing in the database."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                if value is None and name in cls.model_fields and name not in cls.nullable:
                    raise ValueError(f"{name} cannot be null")
        return data


class VenueCreate(SQLModel):
    name: DbStr = Field(min_length=1, max_length=200)
    address: DbStr = Field(default="", max_length=500)
    capacity: JsonInt = Field(default=0, ge=0, le=MAX_ID)


class VenueRead(VenueCreate):
    id: int
    created_at: datetime


class BookingItemCreate(SQLModel):
    name: DbStr = Field(min_length=1, max_length=200)
    quantity: JsonInt = Field(ge=1, le=10_000)
    unit_price: Money


class BookingItemRead(BookingItemCreate):
    id: int


class _BookingTimes(SQLModel):
    @model_validator(mode="after")
    def _ordered(self) -> Self:
        start, end = getattr(self, "start_datetime", None), getattr(self, "end_datetime", None)
        if start is not None and end is not None and end <= start:
            raise ValueError("end_datetime must be after start_datetime")
        return self


class BookingCreate(_BookingTimes):
    title: DbStr = Field(min_length=1, max_length=200)
    venue_id: RowId | None = None
    status: BookingStatus = BookingStatus.pending
    start_datetime: UtcDatetime
    end_datetime: UtcDatetime
    notes: DbStr = Field(default="", max_length=10_000)
    items: list[BookingItemCreate] = Field(default_factory=list, max_length=100)


class BookingUpdate(PartialUpdate, _BookingTimes):
    """Partial update: only the fields sent are changed."""

    nullable = frozenset({"venue_id"})

    # Left out: kept. Only venue_id may be null (no venue); the others are
    # typed without None, so the document says what the server accepts.
    title: DbStr = Field(default=None, min_length=1, max_length=200)
    venue_id: RowId | None = None
    status: BookingStatus = Field(default=None)
    start_datetime: UtcDatetime = Field(default=None)
    end_datetime: UtcDatetime = Field(default=None)
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


class UploadRead(SQLModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
