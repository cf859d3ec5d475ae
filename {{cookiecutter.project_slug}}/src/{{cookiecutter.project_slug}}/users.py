"""Creating users and replacing their tokens (the create-user and
revoke-token commands, and the tests)."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .auth import hash_token, new_token
from .models import Token, User, table_of, utcnow
from .schema_types import email_identity

_USERS = table_of(User)
_TOKENS = table_of(Token)


class UserExistsError(Exception):
    pass


class UnknownUserError(Exception):
    pass


def normalize_email(email: str) -> str:
    """The form an email is stored and looked up in (schema_types.email_identity),
    trimmed of the whitespace a command line or a paste brings along."""
    return email_identity(email.strip(" \t\r\n"))


def checked_email(email: str) -> str:
    try:
        return normalize_email(email)
    except ValueError as exc:
        raise ValueError(f"EMAIL {exc}, got {email!r}") from None


def _lookup_form(email: str) -> str:
    # An email that breaks a rule cannot belong to any account.
    try:
        return normalize_email(email)
    except ValueError:
        raise UnknownUserError(f"no user with email {email}") from None


async def create_user(
    engine: AsyncEngine,
    email: str,
    *,
    is_admin: bool = False,
    password_hash: str | None = None,
) -> str:
    """Create the user and return a bearer token for it (without an expiry);
    only the token's hash is stored."""
    async with engine.begin() as conn:
        user = await insert_user(conn, email, is_admin=is_admin, password_hash=password_hash)
        return await issue_token(conn, user["id"])


async def insert_user(
    conn: AsyncConnection, email: str, *, is_admin: bool = False, password_hash: str | None = None
) -> dict[str, Any]:
    """Insert an active user and return its row; UserExistsError when the email
    is taken. The unique index decides, not a SELECT before the INSERT: two
    sign-ups racing for one email then get one user and one UserExistsError."""
    email = checked_email(email)
    insert_row = (
        insert(_USERS)
        .values(
            email=email,
            is_admin=is_admin,
            is_active=True,
            password_hash=password_hash,
            created_at=utcnow(),
        )
        .returning(*_USERS.c)
    )
    try:
        # A savepoint: the caller's transaction stays usable after a refusal.
        async with conn.begin_nested():
            row = (await conn.execute(insert_row)).one()
    except IntegrityError:
        raise UserExistsError(f"a user with email {email} already exists") from None
    return dict(row._mapping)


async def issue_token(
    conn: AsyncConnection, user_id: int, expires_at: datetime | None = None
) -> str:
    """A new token for the user, in the caller's transaction."""
    token = new_token()
    await conn.execute(
        insert(_TOKENS).values(
            user_id=user_id,
            token_hash=hash_token(token),
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    return token


async def add_token(engine: AsyncEngine, email: str) -> str:
    """One more token for the user; the tokens it has keep working."""
    email = _lookup_form(email)
    async with engine.begin() as conn:
        user_id = await conn.scalar(select(_USERS.c.id).where(_USERS.c.email == email))
        if user_id is None:
            raise UnknownUserError(f"no user with email {email}")
        return await issue_token(conn, user_id)


async def revoke_token(engine: AsyncEngine, email: str) -> str:
    """Make every token of the user stop working at once; return a
    replacement (only its hash is stored; the caller decides whether anyone
    sees it)."""
    email = _lookup_form(email)
    async with engine.begin() as conn:
        user_id = await conn.scalar(select(_USERS.c.id).where(_USERS.c.email == email))
        if user_id is None:
            raise UnknownUserError(f"no user with email {email}")
        await conn.execute(delete(_TOKENS).where(_TOKENS.c.user_id == user_id))
        return await issue_token(conn, user_id)


async def user_id_of(engine: AsyncEngine, email: str) -> int | None:
    try:
        stored = normalize_email(email)
    except ValueError:
        return None
    async with engine.connect() as conn:
        found: int | None = await conn.scalar(select(_USERS.c.id).where(_USERS.c.email == stored))
    return found


async def set_password(engine: AsyncEngine, email: str, password_hash: str) -> None:
    email = _lookup_form(email)
    async with engine.begin() as conn:
        changed = await conn.execute(
            update(_USERS).where(_USERS.c.email == email).values(password_hash=password_hash)
        )
    if changed.rowcount != 1:
        raise UnknownUserError(f"no user with email {email}")
