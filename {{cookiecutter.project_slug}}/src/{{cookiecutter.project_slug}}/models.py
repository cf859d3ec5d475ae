"""What every resource shares: users and their tokens, uploads, the column
types and base schemas resources build on.

Each resource (the example's bookings and venues, and what `new-resource`
adds) keeps its own table and schemas in `resources/`. Tables (table=True)
map rows; the other classes are request and response schemas, so a client
can never set a column the API does not expose.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import model_validator
from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    TypeDecorator,
)
from sqlmodel import Column, Field, SQLModel


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


# Ids are never handed out twice, on SQLite too (migration 0001).
SQLITE_NO_REUSE = {"sqlite_autoincrement": True}

# Indexes are declared with their tables (for autogenerate and `alembic check`)
# and created by the migrations, which say which query each serves.


def timestamp_field(**kwargs: Any) -> Any:
    # Any, as sqlmodel.Field returns it: it stands for the field's value.
    return Field(sa_type=UTCDateTime, **kwargs)


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
    created_at: datetime = timestamp_field(default_factory=utcnow, nullable=False)


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
    created_at: datetime = timestamp_field(default_factory=utcnow, nullable=False)
    expires_at: datetime | None = timestamp_field(default=None, nullable=True)
    # Written at most once per auth.LAST_USED_EVERY per token, never per request.
    last_used_at: datetime | None = timestamp_field(default=None, nullable=True)


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
    created_at: datetime = timestamp_field(default_factory=utcnow, nullable=False)


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


class UploadRead(SQLModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
