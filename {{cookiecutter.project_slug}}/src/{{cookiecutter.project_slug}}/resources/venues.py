"""Venues (part of the example domain): the table, the schemas the API reads
and writes, the list order. Listed by any signed-in user, created by
administrators (routers/venues.py).
"""

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlmodel import Column, Field, SQLModel

from ..models import SQLITE_NO_REUSE, timestamp_field, utcnow
from ..pagination import SortKey
from ..schema_types import MAX_ID, DbStr, JsonInt


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
    created_at: datetime = timestamp_field(default_factory=utcnow, nullable=False)


class VenueCreate(SQLModel):
    name: DbStr = Field(min_length=1, max_length=200)
    address: DbStr = Field(default="", max_length=500)
    capacity: JsonInt = Field(default=0, ge=0, le=MAX_ID)


class VenueRead(VenueCreate):
    id: int
    created_at: datetime


# By name; the primary key breaks ties between venues of the same name.
VENUES_BY_NAME = SortKey((Venue.name, Venue.id), descending=False)
