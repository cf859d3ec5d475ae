"""SQLite: ids are never reused (AUTOINCREMENT).

Without it SQLite gives a new row the largest id plus one, so deleting the
newest booking and creating another hands out the same id again: a client
holding the old id then reads, updates or deletes a different row. The
tables are rebuilt with their data (Alembic's batch mode); PostgreSQL's
sequences never reuse ids, so nothing changes there.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Referenced tables first: each rebuild copies rows into a new table.
TABLES = ("users", "venues", "bookings", "booking_items")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    # Nothing to undo that matters: a table that never reuses ids is what
    # 0003 would have been happy with too.
    pass
