"""Invalidations every worker of every instance applies: a logged-out token,
a user whose rights changed, a table written, the read cache cleared.

`Invalidations` applies each one in this worker at once and, when Redis is
configured (BROADCAST_URL, else a redis:// RATE_LIMIT_STORAGE), publishes
it; every worker subscribed to the channel applies it as soon as Redis
delivers it. Without Redis, other workers catch up when their cache entries
expire (AUTH_CACHE_SECONDS, COUNT_CACHE_SECONDS, CACHE_TTL_SECONDS). While
Redis is out of reach (breaker.py), invalidations are dropped, never failing
the request, and those caches keep entries OUTAGE_CACHE_SECONDS at most.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from .breaker import RedisBreaker

logger = logging.getLogger(__name__)

CHANNEL = f"{__package__}:invalidations"
# While invalidations cannot travel, a cached token, total or page is
# trusted this long at most: a logout elsewhere takes effect within it.
OUTAGE_CACHE_SECONDS = 2.0
WARN_EVERY_SECONDS = 30.0


class Capped(Protocol):
    """A cache whose entries' lifetime can be capped (TokenCache, CountCache, ReadCache)."""

    def cap_lifetime(self, seconds: float | None) -> None: ...


class Invalidations:
    """Apply here, publish to the others. `local` maps a message kind
    ("token", "user", "table", "cache") to what applies it in this worker;
    `caches` are those it keeps coherent, shortened while Redis is out of
    reach. `breaker`: the one of the broadcasts' Redis; None without one."""

    def __init__(
        self,
        breaker: RedisBreaker | None,
        local: dict[str, Callable[[Any], None]],
        caches: Sequence[Capped] = (),
    ) -> None:
        self._breaker = breaker
        self._local = local
        self._caches = caches
        self._client: Any = None
        self._pending: set[asyncio.Task[None]] = set()
        self._last_warning = -math.inf
        if breaker is not None:
            import redis.asyncio  # only when configured, like the rate limiter's

            self._client = redis.asyncio.Redis.from_url(breaker.url, socket_timeout=2)
            meanwhile = f"are dropped, cached entries kept {OUTAGE_CACHE_SECONDS:g} s at most"
            breaker.use("broadcasts", meanwhile)
            breaker.on_change(self._cap_caches)

    def forget_token(self, token_hash: str) -> None:
        self._send("token", token_hash)

    def forget_user(self, user_id: int) -> None:
        self._send("user", user_id)

    def table_written(self, table: str) -> None:
        self._send("table", table)

    def clear_cache(self) -> None:
        self._send("cache", None)

    def _send(self, kind: str, value: Any) -> None:
        self._local[kind](value)
        if self._breaker is not None:
            task = asyncio.get_running_loop().create_task(self._publish(self._breaker, kind, value))
            self._pending.add(task)  # a reference until done, or it may be collected
            task.add_done_callback(self._pending.discard)

    async def _publish(self, breaker: RedisBreaker, kind: str, value: Any) -> None:
        message = orjson.dumps({"kind": kind, "value": value})

        async def publish() -> None:
            await self._client.publish(CHANNEL, message)

        async def drop() -> None:  # the others catch up by expiry
            self._warn(f"could not publish a {kind} invalidation: Redis is out of reach")

        await breaker.call(publish, drop)

    def _warn(self, message: str) -> None:
        """At most one warning every WARN_EVERY_SECONDS: an outage drops one per write."""
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning(message)

    def _cap_caches(self, breaker_open: bool) -> None:
        for cache in self._caches:
            cache.cap_lifetime(OUTAGE_CACHE_SECONDS if breaker_open else None)

    def apply(self, raw: bytes) -> None:
        """Apply a message another worker published (our own come back too:
        applying one twice changes nothing)."""
        try:
            message = orjson.loads(raw)
            apply = self._local[message["kind"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("ignored a malformed invalidation: %r", raw[:200])
            return
        apply(message["value"])

    async def listen(self) -> None:
        """Subscribe and apply until cancelled. While Redis is out of reach,
        wait for the breaker to close, then subscribe again: messages sent
        meanwhile are lost, which the shortened caches made up for."""
        if self._breaker is None:
            return
        while True:
            await self._breaker.wait_closed()
            try:
                await self._breaker.until_open(self._subscribed())
            except Exception as exc:
                # A lost subscription counts as a failure of Redis; one
                # attempt per probe interval at most, so an outage the
                # breaker has not yet seen does not make this spin.
                self._breaker.failed(exc)
                await asyncio.sleep(self._breaker.probe_seconds)

    async def _subscribed(self) -> None:
        async with self._client.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self.apply(message["data"])

    async def close(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=2)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()


async def publish_once(url: str, kind: str, value: Any) -> None:
    """One invalidation from outside the service (the revoke-token command)."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, socket_timeout=2)
    try:
        await client.publish(CHANNEL, orjson.dumps({"kind": kind, "value": value}))
    finally:
        await client.aclose()
