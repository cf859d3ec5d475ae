"""Per-endpoint rate limits, on the `limits` library's async API.

Every resource route allows RATE_LIMIT_DEFAULT per client; a route that
needs another limit declares it next to itself:

    @router.get("/export")
    @rate_limit("10/minute")
    async def export_things(...): ...

The client is the signed-in user, or else the request's address (behind a
proxy, set FORWARDED_ALLOW_IPS: serving.py). Counters live in RATE_LIMIT_STORAGE:
memory:// (per worker) or redis:// (shared); if it fails, requests go through.

Why it is built this way: docs/design-notes.md, "ratelimit.py".
"""

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import StorageTypes, storage_from_string

from .auth import principal_of
from .errors import ServiceError
from .settings import Settings

logger = logging.getLogger(__name__)

ATTRIBUTE = "__rate_limit__"
WARN_EVERY_SECONDS = 30.0
# A Redis that does not answer must not hold requests up for long.
REDIS_TIMEOUT_SECONDS = 0.5

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def rate_limit(limit: str) -> Callable[[Endpoint], Endpoint]:
    """Give one route its own limit ("10/minute", "5/second;100/hour" ...)."""
    items = parse_many(limit)

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, ATTRIBUTE, items)
        return endpoint

    return mark


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.default = parse_many(settings.rate_limit_default)
        self.login = parse_many(settings.login_rate_limit)
        self.strategy = SlidingWindowCounterRateLimiter(_storage(settings.rate_limit_storage))
        self.last_warning = -math.inf

    async def check(self, request: Request, client: str) -> None:
        endpoint = request.scope.get("endpoint")
        items = getattr(endpoint, ATTRIBUTE, self.default)
        await self.hit(items, client, _route_key(endpoint))

    async def check_login(self, email: str, address: str) -> None:
        """Login attempts count against the account and the client address."""
        if self.enabled:
            for client in (f"account:{email}", f"ip:{address}"):
                await self.hit(self.login, client, "login")

    async def hit(self, items: list[RateLimitItem], client: str, route: str) -> None:
        """One hit of `client` on `route` against each limit; a 429 when over one."""
        for item in items:
            try:
                allowed = await self.strategy.hit(item, client, route)
                if not allowed:
                    stats = await self.strategy.get_window_stats(item, client, route)
            except Exception as exc:
                self._warn(exc)
                return
            if not allowed:
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise ServiceError(
                    429,
                    f"Rate limit exceeded: {item.amount} per {_window(item)}",
                    "rate_limited",
                    {"Retry-After": str(retry_after)},
                )

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self.last_warning >= WARN_EVERY_SECONDS:
            self.last_warning = now
            logger.warning(
                "rate limit storage unavailable, requests pass unlimited: %s: %s",
                type(exc).__name__,
                exc,
            )


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def _storage(uri: str) -> StorageTypes:
    if uri.startswith("memory://"):
        return storage_from_string("async+memory://")
    return storage_from_string(
        f"async+{uri}",
        implementation="redispy",
        wrap_exceptions=True,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


@functools.cache  # one entry per endpoint function: bounded by the routes
def _route_key(endpoint: Callable[..., Any] | None) -> str:
    return f"{getattr(endpoint, '__module__', '')}.{getattr(endpoint, '__qualname__', '')}"


async def enforce_rate_limit(request: Request) -> None:
    """Added to every resource router when RATE_LIMIT_ENABLED (routing.py)."""
    user = await principal_of(request)
    client = f"user:{user.id}" if user is not None else f"ip:{address_of(request)}"
    await request.app.state.rate_limiter.check(request, client)


def address_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"
