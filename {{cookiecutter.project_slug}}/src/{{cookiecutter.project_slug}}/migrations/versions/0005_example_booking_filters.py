"""An index behind every filter of the example's lists, in list order.

The administrators' list filters by venue_id and by status, and a user's own
list by status: each gets (filter, start_datetime, id), so a filtered page is
one range of an index, read in order, as an unfiltered one is.
(user_id, status, start_datetime, id) replaces (user_id, status), which it
serves too. Built CONCURRENTLY on PostgreSQL, as in 0004: adding them to a
live table does not block writes.

This revision belongs to the example: a project generated without it does
not have it (the post-generation manifest lists it).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence
from typing import Any

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADDED = [
    ("ix_bookings_venue_id_start_datetime_id", "bookings", ["venue_id", "start_datetime", "id"]),
    ("ix_bookings_status_start_datetime_id", "bookings", ["status", "start_datetime", "id"]),
    (
        "ix_bookings_user_id_status_start_datetime_id",
        "bookings",
        ["user_id", "status", "start_datetime", "id"],
    ),
]
REPLACED = [("ix_bookings_user_id_status", "bookings", ["user_id", "status"])]


def _concurrently() -> dict[str, Any]:
    return {"postgresql_concurrently": op.get_bind().dialect.name == "postgresql"}


def _swap(create: list[tuple[str, str, list[str]]], drop: list[tuple[str, str, list[str]]]) -> None:
    # The new indexes first: the lists they serve never go without one.
    with op.get_context().autocommit_block():
        for name, table, columns in create:
            op.create_index(name, table, columns, if_not_exists=True, **_concurrently())
        for name, table, _columns in drop:
            op.drop_index(name, table_name=table, if_exists=True, **_concurrently())


def upgrade() -> None:
    _swap(ADDED, REPLACED)


def downgrade() -> None:
    _swap(REPLACED, ADDED)
