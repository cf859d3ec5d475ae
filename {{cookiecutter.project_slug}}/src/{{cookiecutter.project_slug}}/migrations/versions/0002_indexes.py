"""Indexes for the list, filter and export queries.

The guide's three indexes, plus (user_id, start_datetime, id), which is the
exact order of a user's booking list, so a page is an index range scan with
no sort. The start_datetime index carries id as a tie-breaker for the same
reason on the administrators' list; its leading column serves every lookup a
start_datetime-only index would.

On PostgreSQL the indexes are built CONCURRENTLY, outside a transaction, so
adding them to a live table does not block writes.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence
from typing import Any

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_bookings_user_id_status", "bookings", ["user_id", "status"]),
    ("ix_bookings_start_datetime_id", "bookings", ["start_datetime", "id"]),
    ("ix_bookings_user_id_start_datetime_id", "bookings", ["user_id", "start_datetime", "id"]),
    ("ix_booking_items_booking_id", "booking_items", ["booking_id"]),
]


def _concurrently() -> dict[str, Any]:
    return {"postgresql_concurrently": op.get_bind().dialect.name == "postgresql"}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns, if_not_exists=True, **_concurrently())


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, _columns in reversed(INDEXES):
            op.drop_index(name, table_name=table, if_exists=True, **_concurrently())
