"""Per-endpoint rate limits, on the `limits` library's async API.

Every resource route allows RATE_LIMIT_DEFAULT per client; a route that
needs another limit declares it next to itself:

    @router.get("/export")
    @rate_limit("10/minute")
    async def export_things(...): ...

The client is the signed-in user, or else the request's address (behind a
proxy, set FORWARDED_ALLOW_IPS: serving.py). Counters live in RATE_LIMIT_STORAGE:
memory:// (per worker, local_counters.py) or redis:// (shared); while that
Redis is out of reach (breaker.py), they are counted per worker.

Why it is built this way: docs/design-notes.md, "ratelimit.py".
"""

import asyncio
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
from .breaker import REDIS_TIMEOUT_SECONDS, RedisBreaker
from .errors import ServiceError
from .local_counters import LocalCounters
from .settings import Settings

logger = logging.getLogger(__name__)

ATTRIBUTE = "__rate_limit__"

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def rate_limit(limit: str) -> Callable[[Endpoint], Endpoint]:
    """Give one route its own limit ("10/minute", "5/second;100/hour" ...)."""
    items = parse_many(limit)

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, ATTRIBUTE, items)
        return endpoint

    return mark


class RateLimiter:
    """`breaker`: the one of RATE_LIMIT_STORAGE's Redis; None with memory://."""

    def __init__(self, settings: Settings, breaker: RedisBreaker | None = None) -> None:
        self.enabled = settings.rate_limit_enabled
        self.default = parse_many(settings.rate_limit_default)
        self.login = parse_many(settings.login_rate_limit)
        self.login_per_address = parse_many(settings.login_address_rate_limit)
        self.login_slowdown = settings.login_slowdown_seconds
        # This process's counters: the store itself with memory://, and with
        # Redis what counts while its breaker is open (local_counters.py).
        self.local = SlidingWindowCounterRateLimiter(LocalCounters())
        self.shared = self.local
        self.breaker = breaker
        if breaker is not None:
            self.shared = SlidingWindowCounterRateLimiter(_redis_storage(breaker.url))
            breaker.use("shared rate limits", "are counted per worker process")

    async def check(self, request: Request, client: str) -> None:
        endpoint = request.scope.get("endpoint")
        items = getattr(endpoint, ATTRIBUTE, self.default)
        await self.hit(items, client, _route_key(endpoint))

    async def check_login(self, email: str, address: str) -> None:
        """A password attempt (a login, a password change), limited as OWASP's
        authentication guidance advises: a 429 past LOGIN_RATE_LIMIT for one
        account from one address, or past LOGIN_ADDRESS_RATE_LIMIT from one
        address. Past LOGIN_RATE_LIMIT for one account from every address
        together, an attempt waits LOGIN_SLOWDOWN_SECONDS and goes on: a
        refusal there would let guesses from anywhere lock the owner out."""
        if not self.enabled:
            return
        await self.hit(self.login_per_address, f"ip:{address}", "login")
        await self.hit(self.login, f"account:{email} ip:{address}", "login")
        if not await self._within(self.login, f"account:{email}", "login"):
            logger.warning(
                "an account had more password attempts than LOGIN_RATE_LIMIT from several "
                "addresses; each further one waits %g s",
                self.login_slowdown,
            )
            await asyncio.sleep(self.login_slowdown)

    async def hit(self, items: list[RateLimitItem], client: str, route: str) -> None:
        """One hit of `client` on `route` against each limit; a 429 when over one."""
        for item in items:
            reset_time = await self._counted(item, client, route)
            if reset_time is not None:
                retry_after = max(1, math.ceil(reset_time - time.time()))
                raise ServiceError(
                    429,
                    f"Rate limit exceeded: {item.amount} per {_window(item)}",
                    "rate_limited",
                    {"Retry-After": str(retry_after)},
                )

    async def _within(self, items: list[RateLimitItem], client: str, route: str) -> bool:
        """One hit, as `hit` counts it; whether it stayed within every limit."""
        for item in items:
            if await self._counted(item, client, route) is not None:
                return False
        return True

    async def _counted(self, item: RateLimitItem, client: str, route: str) -> float | None:
        """Counted in RATE_LIMIT_STORAGE, or here while its Redis is out of reach."""
        shared = functools.partial(_hit, self.shared, item, client, route)
        if self.breaker is None:
            return await shared()
        local = functools.partial(_hit, self.local, item, client, route)
        return await self.breaker.call(shared, local)


async def _hit(
    strategy: SlidingWindowCounterRateLimiter, item: RateLimitItem, client: str, route: str
) -> float | None:
    """None when the hit is allowed, else when the window resets (epoch seconds)."""
    if await strategy.hit(item, client, route):
        return None
    stats = await strategy.get_window_stats(item, client, route)
    return stats.reset_time


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def _redis_storage(uri: str) -> StorageTypes:
    # Redis's own errors reach the breaker unwrapped: it tells timeouts apart.
    return storage_from_string(
        f"async+{uri}",
        implementation="redispy",
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
