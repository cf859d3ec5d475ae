"""The example's tables: venues, bookings and their items, and the indexes
of their lists.

Indexes: (user_id, start_datetime, id) is the exact order of a user's
booking list, so a page is an index range scan with no sort; the
start_datetime index carries id as a tie-breaker for the same reason on the
administrators' list; (user_id, status) serves the status filter. On
PostgreSQL the indexes are built CONCURRENTLY, outside a transaction, so
adding them to a live table does not block writes. SQLite tables use
AUTOINCREMENT, as in 0001.

This revision and those after it belong to the example: a project generated
without the example (example_domain=none) does not have them, and
`new-resource` follows on from whichever revision is the head.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
INDEXES = [
    ("ix_bookings_user_id_status", "bookings", ["user_id", "status"]),
    ("ix_bookings_start_datetime_id", "bookings", ["start_datetime", "id"]),
    ("ix_bookings_user_id_start_datetime_id", "bookings", ["user_id", "start_datetime", "id"]),
    ("ix_booking_items_booking_id", "booking_items", ["booking_id"]),
    ("ix_venues_name_id", "venues", ["name", "id"]),
]


def _concurrently() -> dict[str, Any]:
    return {"postgresql_concurrently": op.get_bind().dialect.name == "postgresql"}


def upgrade() -> None:
    op.create_table(
        "venues",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(500), nullable=False, server_default=""),
        sa.Column("capacity", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("booking_reference", sa.String(32), nullable=False, unique=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "venue_id",
            sa.Integer,
            sa.ForeignKey("venues.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_datetime", TIMESTAMP, nullable=False),
        sa.Column("end_datetime", TIMESTAMP, nullable=False),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled')", name="ck_bookings_status"
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "booking_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "booking_id",
            sa.Integer,
            sa.ForeignKey("bookings.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Numeric(10, 2), nullable=False),
        sqlite_autoincrement=True,
    )
    with op.get_context().autocommit_block():
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns, if_not_exists=True, **_concurrently())


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, _columns in reversed(INDEXES):
            op.drop_index(name, table_name=table, if_exists=True, **_concurrently())
    op.drop_table("booking_items")
    op.drop_table("bookings")
    op.drop_table("venues")
