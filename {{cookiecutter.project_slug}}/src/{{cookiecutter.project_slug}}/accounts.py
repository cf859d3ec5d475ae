"""Accounts: logging in and out, users managing themselves, administrators
managing users. The routers (routers/auth.py, users.py, admin_users.py) are
thin; what touches tokens and the authentication cache is here.

Every change that could make a cached token wrong (logout, a new password,
disabling a user, a changed admin flag) clears this worker's cache for it at
once; other workers drop it within AUTH_CACHE_SECONDS. A token alone never
sets a password: one it could set would outlive the token's revocation.
"""

from datetime import datetime, timedelta

import sqlmodel
from fastapi import Request
from pydantic import BaseModel, Field, GetJsonSchemaHandler, StrictBool, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from sqlalchemy import bindparam, delete, exists, not_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .auth import Principal, hash_token
from .errors import ServiceError
from .models import PartialUpdate, Token, User, table_of, utcnow
from .passwords import Passwords
from .ratelimit import address_of
from .reads import Reader
from .schema_types import DbStr, Email
from .users import UserExistsError, insert_user, issue_token
from .web.before_body import before_body

USERS = table_of(User)
TOKENS = table_of(Token)
# Long enough for any passphrase; short enough that hashing one is bounded.
PASSWORD_MAX = 1024
PASSWORD_MIN = 8


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class UserRead(BaseModel):
    id: int
    email: str
    is_admin: bool
    is_active: bool
    created_at: datetime


USER_COLUMNS = [USERS.c[name] for name in UserRead.model_fields]
# Built once, values bound per request (reads.py): a statement built per
# request costs its construction and a place in every cache keyed by it.
_USER_BY_ID = select(*USER_COLUMNS).where(USERS.c.id == bindparam("user_id"))
_PASSWORD_OF = select(USERS.c.email, USERS.c.password_hash).where(
    USERS.c.id == bindparam("user_id")
)
_LOGIN = select(USERS.c.id, USERS.c.password_hash).where(
    USERS.c.email == bindparam("email"), USERS.c.is_active
)


class SignUp(BaseModel):
    email: Email
    password: DbStr = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


# Partial updates: a field left out is kept, none may be null (PartialUpdate),
# so they are typed without None and the document says what the server takes.
# sqlmodel's Field, as models.py's updates: it lets a default of None stand
# for "left out" on a field that is never null.


class OwnUpdate(PartialUpdate):
    """A user's changes to its own account: a new password needs the current one."""

    password: DbStr = sqlmodel.Field(
        default=None,
        min_length=PASSWORD_MIN,
        max_length=PASSWORD_MAX,
        description="A new password; requires current_password",
    )
    current_password: DbStr = sqlmodel.Field(
        default=None,
        max_length=PASSWORD_MAX,
        description="The account's password now. An account without one gets its first "
        "from an administrator (the set-password command), never through a token alone",
    )

    @model_validator(mode="after")
    def _confirmed(self) -> "OwnUpdate":
        if self.password is not None and self.current_password is None:
            raise PydanticCustomError("missing", "current_password is required with password")
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # What _confirmed enforces, in the document too.
        document = handler.resolve_ref_schema(handler(schema))
        document["dependentRequired"] = {"password": ["current_password"]}
        return document


class AdminUpdate(PartialUpdate):
    is_active: StrictBool = sqlmodel.Field(default=None)
    is_admin: StrictBool = sqlmodel.Field(default=None)


def _passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


def _wrong_credentials() -> ServiceError:
    # The same answer for an unknown email, a wrong password and a disabled user.
    return ServiceError(401, "Incorrect email or password", headers={"WWW-Authenticate": "Bearer"})


async def log_in(request: Request, reader: Reader, email: str, password: str) -> TokenResponse:
    state = request.app.state  # `email` is in its stored form (LoginEmail)
    await state.rate_limiter.check_login(email, address_of(request))
    row = await reader.first(_LOGIN, {"email": email})
    # Unknown or disabled: a dummy hash is checked, so the time taken is the same.
    stored = row["password_hash"] if row is not None else None
    if not await _passwords(request).verify(stored, password) or row is None:
        raise _wrong_credentials()
    expires = utcnow() + timedelta(hours=state.settings.token_ttl_hours)
    async with state.engine.begin() as conn:
        token = await issue_token(conn, row["id"], expires)
    return TokenResponse(access_token=token, expires_at=expires)


async def log_out(request: Request, user: Principal) -> None:
    async with request.app.state.engine.begin() as conn:
        await conn.execute(delete(TOKENS).where(TOKENS.c.id == user.token_id))
    _, _, token = request.headers.get("authorization", "").partition(" ")
    request.app.state.invalidations.forget_token(hash_token(token.strip()))


@before_body
async def signup_allowed(request: Request) -> None:
    """Sign-up's route answers 404 unless ALLOW_SIGNUP, before reading the body."""
    if not request.app.state.settings.allow_signup:
        raise ServiceError(404, "Not Found")


async def sign_up(request: Request, body: SignUp) -> UserRead:
    hashed = await _passwords(request).hash(body.password)
    try:
        async with request.app.state.engine.begin() as conn:
            row = await insert_user(conn, body.email, password_hash=hashed)
    except UserExistsError:
        raise ServiceError(409, "An account with this email exists") from None
    return UserRead.model_validate(row)


async def read_user(reader: Reader, user_id: int) -> UserRead:
    row = await reader.first(_USER_BY_ID, {"user_id": user_id})
    if row is None:
        raise ServiceError(404, f"User {user_id} not found")
    return UserRead.model_validate(row)


async def update_own(
    request: Request, reader: Reader, user: Principal, body: OwnUpdate
) -> UserRead:
    """A new password needs the current one, and ends every other session."""
    if body.password is not None:  # with current_password (OwnUpdate)
        await _confirm_password(request, reader, user.id, body.current_password)
        hashed = await _passwords(request).hash(body.password)
        async with request.app.state.engine.begin() as conn:
            await conn.execute(
                update(USERS).where(USERS.c.id == user.id).values(password_hash=hashed)
            )
            await conn.execute(
                delete(TOKENS).where(TOKENS.c.user_id == user.id, TOKENS.c.id != user.token_id)
            )
        request.app.state.invalidations.forget_user(user.id)
    return await read_user(reader, user.id)


async def _confirm_password(request: Request, reader: Reader, user_id: int, password: str) -> None:
    """403 unless `password` is the account's: counted as a login attempt,
    so a stolen token guesses no faster than a login would."""
    row = await reader.first(_PASSWORD_OF, {"user_id": user_id})
    if row is None:
        raise ServiceError(404, f"User {user_id} not found")
    await request.app.state.rate_limiter.check_login(row["email"], address_of(request))
    if row["password_hash"] is None:
        raise ServiceError(
            403,
            "This account has no password to confirm; an administrator sets its first "
            "(the set-password command)",
        )
    if not await _passwords(request).verify(row["password_hash"], password):
        raise ServiceError(403, "current_password does not match")


async def update_user(
    request: Request, reader: Reader, admin: Principal, user_id: int, body: AdminUpdate
) -> UserRead:
    changes = body.model_dump(exclude_unset=True, exclude={"nullable"})
    if user_id == admin.id and changes:
        # An administrator cannot lock itself out (nor the last one out).
        raise ServiceError(409, "Administrators cannot disable or demote themselves")
    if changes:
        async with request.app.state.engine.begin() as conn:
            await _change_user(conn, user_id, changes)
        request.app.state.invalidations.forget_user(user_id)
    return await read_user(reader, user_id)


_ACTIVE_ADMIN = USERS.c.is_admin & USERS.c.is_active
_OTHERS = USERS.alias("others")  # not correlated with the UPDATE's own table
_ANOTHER_ADMIN = exists().where(
    _OTHERS.c.is_admin, _OTHERS.c.is_active, _OTHERS.c.id != bindparam("user_id")
)
# In id order: two transactions taking these locks never wait on each other crosswise.
_LOCK_ADMINS = select(USERS.c.id).where(_ACTIVE_ADMIN).order_by(USERS.c.id).with_for_update()
_EXISTS = select(USERS.c.id).where(USERS.c.id == bindparam("user_id"))


async def _change_user(conn: AsyncConnection, user_id: int, changes: dict[str, bool]) -> None:
    """One UPDATE, which disables or demotes an active administrator only
    while another stays: at least one active administrator always remains,
    also when two of them remove each other at the same moment."""
    stmt = update(USERS).where(USERS.c.id == bindparam("user_id")).values(changes)
    if False in changes.values():  # disabling or demoting
        await _serialize_removals(conn)
        stmt = stmt.where(not_(_ACTIVE_ADMIN) | _ANOTHER_ADMIN)
    if (await conn.execute(stmt, {"user_id": user_id})).rowcount == 1:
        return
    if (await conn.execute(_EXISTS, {"user_id": user_id})).first() is None:
        raise ServiceError(404, f"User {user_id} not found")
    raise ServiceError(
        409, f"User {user_id} is the last active administrator; at least one must remain"
    )


async def _serialize_removals(conn: AsyncConnection) -> None:
    """Make the removals of administrators wait for one another.

    PostgreSQL (READ COMMITTED): the UPDATE's condition reads a snapshot, so
    two removals of two administrators would each see the other still
    active. Locking every active administrator's row first makes the second
    wait for the first to commit; its UPDATE then starts with a snapshot that
    sees it. SQLite needs nothing: an UPDATE takes the database's one write
    lock before it reads, so its condition sees every committed removal."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_LOCK_ADMINS)
