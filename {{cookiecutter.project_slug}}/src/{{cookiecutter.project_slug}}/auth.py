"""Bearer-token authentication, with signed-in users cached per worker.

Tokens are 32 random bytes from `secrets`, shown once when created, many per
user; only their sha256 is stored. A token's user is cached for
AUTH_CACHE_SECONDS (never past the token's expiry), an unknown token for
NEGATIVE_SECONDS. Logout, disabling a user or changing its rights clears this
worker's cache at once (accounts.py), and no lookup that began before can put
the token back (TokenCache.generation); other workers see it when Redis
delivers the invalidation (broadcast.py), else within AUTH_CACHE_SECONDS.

Why it is built this way: docs/design-notes.md, "auth.py".
"""

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, Request
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowPassword, OAuthFlows
from fastapi.security.base import SecurityBase
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .errors import ServiceError
from .models import Token, User, table_of, utcnow
from .reads import Reader
from .web.before_body import before_body

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32
# Unknown tokens are remembered briefly: a client repeating a bad token costs
# no queries, and a token created meanwhile is usable within seconds.
NEGATIVE_SECONDS = 5.0
LAST_USED_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user, as requests need it: immutable, shared through the cache."""

    id: int
    is_admin: bool
    token_id: int
    expires_at: float | None  # time.time() after which the token is refused


class TokenCache:
    """Digest -> user, per worker. A lookup reads `generation` before its
    query and hands it to `put`: every forget (and cap) moves it on, so a
    lookup that read the token before a logout committed, and finishes
    after, cannot bring the token back for AUTH_CACHE_SECONDS."""

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self._ttl_seconds, self._max_entries = ttl_seconds, max_entries
        self.generation = 0
        self.cap_lifetime(None)

    def cap_lifetime(self, seconds: float | None) -> None:
        """Trust entries `seconds` at most (None: AUTH_CACHE_SECONDS again),
        starting empty: while invalidations cannot travel (broadcast.py),
        what is cached may be stale."""
        ttl_seconds = self._ttl_seconds if seconds is None else min(self._ttl_seconds, seconds)
        self.generation += 1
        self.enabled = ttl_seconds > 0
        # Digest -> user; in _unknown, digest -> None.
        self._known: TTLCache[str, Principal | None] = TTLCache(
            maxsize=self._max_entries, ttl=ttl_seconds or 1
        )
        # Its own, smaller cache: a flood of bad tokens cannot evict good ones.
        negative_ttl = min(ttl_seconds, NEGATIVE_SECONDS) or 1
        self._unknown: TTLCache[str, Principal | None] = TTLCache(
            maxsize=max(1, self._max_entries // 4), ttl=negative_ttl
        )

    def get(self, digest: str) -> Principal | bool | None:
        """The cached user, None for a cached unknown token, False for a miss."""
        if not self.enabled:
            return False
        if (principal := self._known.get(digest)) is not None:
            if principal.expires_at is None or time.time() < principal.expires_at:
                return principal
            self._known.pop(digest, None)
            return None
        return None if digest in self._unknown else False

    def put(self, digest: str, principal: Principal | None, generation: int) -> None:
        """Cache a lookup's answer, unless something was forgotten since it
        began (`generation`, read before its query): the answer may predate
        that change. Dropping it costs one more lookup, never a stale user."""
        if self.enabled and generation == self.generation:
            (self._known if principal else self._unknown)[digest] = principal

    def forget(self, digest: str) -> None:
        self.generation += 1
        self._known.pop(digest, None)

    def forget_user(self, user_id: int) -> None:
        """Every cached token of the user: looked up again on its next use.
        Unknown tokens are forgotten too (which were the user's is unknown):
        a re-enabled user's tokens work again at once."""
        self.generation += 1
        for digest in [d for d, p in list(self._known.items()) if p and p.id == user_id]:
            self._known.pop(digest, None)
        self._unknown.clear()


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


_USERS = table_of(User)
_TOKENS = table_of(Token)
_BY_HASH = (
    select(
        _USERS.c.id,
        _USERS.c.is_admin,
        _TOKENS.c.id.label("token_id"),
        _TOKENS.c.token_hash,
        _TOKENS.c.expires_at,
        _TOKENS.c.last_used_at,
    )
    .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.token_hash == bindparam("digest"), _USERS.c.is_active)
)


async def _lookup(reader: Reader, engine: AsyncEngine, digest: str) -> Principal | None:
    row = await reader.first(_BY_HASH, {"digest": digest})
    # Compare in constant time as well, so no code path depends on how much
    # of a guessed hash matched.
    if row is None or not hmac.compare_digest(row["token_hash"], digest):
        return None
    expires: datetime | None = row["expires_at"]
    if expires is not None and expires <= utcnow():
        return None
    last_used: datetime | None = row["last_used_at"]
    if last_used is None or utcnow() - last_used >= LAST_USED_EVERY:
        await _touch(engine, row["token_id"])
    deadline = expires.timestamp() if expires is not None else None
    return Principal(row["id"], row["is_admin"], row["token_id"], deadline)


async def _touch(engine: AsyncEngine, token_id: int) -> None:
    """Record the token's use: on a cache miss, and only when the last record
    is LAST_USED_EVERY old, so at most one short write per token per interval."""
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(_TOKENS).where(_TOKENS.c.id == token_id).values(last_used_at=utcnow())
            )
    except Exception as exc:  # a lost write of a timestamp must not fail anything
        logger.info("could not record a token's last use: %s", type(exc).__name__)


_PRINCIPAL = "auth.principal"  # request scope key: resolved once per request


def _bearer_token(request: Request) -> str:
    """The token of an `Authorization: Bearer ...` header ("" without one)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def principal_of(request: Request) -> Principal | None:
    """The user the request's bearer token belongs to, or None; resolved once
    per request, so the rate limiter and the route share it.

    The rate limiter calls this directly rather than through a dependency:
    FastAPI walks every node of a route's dependency graph on every request,
    cached or not, and that walk measured more than the limiter itself.
    """
    if _PRINCIPAL in request.scope:
        resolved: Principal | None = request.scope[_PRINCIPAL]
        return resolved
    token = _bearer_token(request)
    principal = None
    if token:
        digest = hash_token(token)
        state = request.app.state
        cache = state.token_cache
        principal = cache.get(digest)
        if principal is False:
            generation = cache.generation
            principal = await _lookup(state.reader, state.engine, digest)
            cache.put(digest, principal, generation)
    request.scope[_PRINCIPAL] = principal
    return principal


class _BearerScheme(SecurityBase):
    """The bearer scheme as the OpenAPI document shows it (what HTTPBearer
    declares); subclasses answer the dependency themselves (the header is read
    by _bearer_token)."""

    def __init__(self) -> None:
        # The password flow, so the interactive docs can log in; tokenUrl is
        # under API_PREFIX, which the document adds (openapi.for_tools).
        password = OAuthFlowPassword(tokenUrl="auth/token", scopes={})
        self.model = OAuth2Model(
            flows=OAuthFlows(password=password),
            description="A token from POST /auth/token (login) or the create-user command",
        )
        self.scheme_name = "BearerToken"


class _SignedIn(_BearerScheme):
    """The bearer scheme as a dependency answering with the signed-in user.

    One dependency per check, not a chain of them (token, user, admin):
    FastAPI walks every node of a route's dependency graph on every request.
    """

    def __init__(self, *, required: bool, admin: bool = False) -> None:
        super().__init__()
        self.required, self.admin = required, admin

    async def __call__(self, request: Request) -> Principal | None:
        user = await principal_of(request)
        if user is None:
            if self.required:
                raise _unauthorized()
            return None
        if self.admin and not user.is_admin:
            raise ServiceError(403, "Administrator access required")
        return user


async def require_operator(request: Request) -> None:
    """Operational data (memory, metrics): an administrator's token, or
    METRICS_TOKEN, which a Prometheus scrape can hold without being a user."""
    expected = request.app.state.settings.metrics_token
    secret = expected.get_secret_value().encode() if expected is not None else b""
    if secret and hmac.compare_digest(_bearer_token(request).encode(), secret):
        return
    user = await principal_of(request)
    if user is None:
        raise _unauthorized()
    if not user.is_admin:
        raise ServiceError(403, "Administrator access (or METRICS_TOKEN) required")


class _Operator(_BearerScheme):
    """require_operator as a dependency that shows the scheme in OpenAPI."""

    async def __call__(self, request: Request) -> None:
        await require_operator(request)


# Each decides from the token alone: a refused request's body is never read.
Operator = Depends(before_body(_Operator()))
OptionalUser = Annotated[Principal | None, Depends(_SignedIn(required=False))]
CurrentUser = Annotated[Principal, Depends(before_body(_SignedIn(required=True)))]
AdminUser = Annotated[Principal, Depends(before_body(_SignedIn(required=True, admin=True)))]
