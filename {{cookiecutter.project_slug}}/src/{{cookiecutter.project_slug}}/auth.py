"""Bearer-token authentication.

Tokens are 32 random bytes from `secrets`, shown once when created. Only
their sha256 is stored: a token has far more entropy than a password, so a
fast hash is safe here and keeps every request to one indexed lookup (a slow
password hash would cost tens of milliseconds per request).
"""

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import select

from .db import SessionDep
from .errors import ServiceError
from .models import User

TOKEN_BYTES = 32
_bearer = HTTPBearer(auto_error=False, description="A token from the create-user command")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unauthorized() -> ServiceError:
    # A fresh instance each time: a shared one would keep its last traceback
    # (and every frame in it) alive between requests.
    return ServiceError(
        401, "Missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
    )


async def get_optional_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    """The user the bearer token belongs to, or None. Resolved once per
    request: the rate limiter and the route share the lookup."""
    if credentials is None or not credentials.credentials:
        return None
    digest = hash_token(credentials.credentials)
    user = await session.scalar(select(User).where(User.token_hash == digest))
    # Compare in constant time as well, so no code path depends on how much
    # of a guessed hash matched.
    if user is None or not hmac.compare_digest(user.token_hash, digest):
        return None
    return user


async def get_current_user(user: Annotated[User | None, Depends(get_optional_user)]) -> User:
    if user is None:
        raise _unauthorized()
    return user


async def get_admin_user(user: Annotated[User, Depends(get_current_user)]) -> User:
    if not user.is_admin:
        raise ServiceError(403, "Administrator access required")
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
CurrentUser = Annotated[User, Depends(get_current_user)]
AdminUser = Annotated[User, Depends(get_admin_user)]
