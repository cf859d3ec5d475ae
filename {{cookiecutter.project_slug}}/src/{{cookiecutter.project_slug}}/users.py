"""Creating users and replacing their tokens (the create-user and
revoke-token commands, and the tests)."""

import re

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .auth import hash_token, new_token
from .models import User, table_of, utcnow

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_USERS = table_of(User)


class UserExistsError(Exception):
    pass


class UnknownUserError(Exception):
    pass


def normalize_email(email: str) -> str:
    """Emails are stored and looked up trimmed and in lower case."""
    return email.strip().lower()


async def create_user(engine: AsyncEngine, email: str, *, is_admin: bool = False) -> str:
    """Create the user and return its bearer token; only the hash is stored."""
    email = normalize_email(email)
    if not _EMAIL.fullmatch(email):
        raise ValueError(f"EMAIL must look like name@example.org, got {email!r}")
    token = new_token()
    async with engine.begin() as conn:
        if await conn.scalar(select(_USERS.c.id).where(_USERS.c.email == email)) is not None:
            raise UserExistsError(f"a user with email {email} already exists")
        await conn.execute(
            insert(_USERS).values(
                email=email, token_hash=hash_token(token), is_admin=is_admin, created_at=utcnow()
            )
        )
    return token


async def revoke_token(engine: AsyncEngine, email: str) -> str:
    """Make the user's current token stop working at once; return its
    replacement (only its hash is stored; the caller decides whether anyone
    sees it)."""
    email = normalize_email(email)
    token = new_token()
    async with engine.begin() as conn:
        changed = await conn.execute(
            update(_USERS).where(_USERS.c.email == email).values(token_hash=hash_token(token))
        )
    if changed.rowcount != 1:
        raise UnknownUserError(f"no user with email {email}")
    return token
