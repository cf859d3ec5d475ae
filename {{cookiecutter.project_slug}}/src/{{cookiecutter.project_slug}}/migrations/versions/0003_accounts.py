"""Accounts: passwords, disabled users, and many tokens per user.

Each user's one token moves from users.token_hash into the new tokens table,
without an expiry: tokens made by `create-user` before this keep working.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# A table that batch mode rebuilds on SQLite keeps AUTOINCREMENT only if told
# (migration 0001 says why it matters); elsewhere this changes nothing.
AUTOINCREMENT: dict[str, Any] = {"sqlite_autoincrement": True}

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])
    op.execute(
        "INSERT INTO tokens (user_id, token_hash, created_at) "
        "SELECT id, token_hash, created_at FROM users"
    )
    with op.batch_alter_table("users", table_kwargs=AUTOINCREMENT) as users:
        users.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
        users.add_column(
            sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true())
        )
        users.drop_column("token_hash")
    # The default filled the existing rows; new rows get theirs from the code.
    with op.batch_alter_table("users", table_kwargs=AUTOINCREMENT) as users:
        users.alter_column("is_active", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("users", table_kwargs=AUTOINCREMENT) as users:
        users.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
    # Each user keeps its newest token; users without one get an unusable value.
    op.execute(
        "UPDATE users SET token_hash = COALESCE("
        "(SELECT token_hash FROM tokens WHERE tokens.user_id = users.id "
        "ORDER BY tokens.id DESC LIMIT 1), 'revoked-' || users.id)"
    )
    with op.batch_alter_table("users", table_kwargs=AUTOINCREMENT) as users:
        users.alter_column("token_hash", nullable=False)
        users.create_unique_constraint("users_token_hash_key", ["token_hash"])
        users.drop_column("is_active")
        users.drop_column("password_hash")
    op.drop_table("tokens")
