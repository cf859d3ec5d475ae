"""Invalidations every worker of every instance applies: a logged-out token,
a user whose rights changed, a table written, the read cache cleared.

`Invalidations` applies each one in this worker at once and, when Redis is
configured (BROADCAST_URL, else a redis:// RATE_LIMIT_STORAGE), publishes
it; every worker subscribed to the channel applies it as soon as Redis
delivers it. Without Redis, or while it is unreachable, other workers
catch up when their cache entries expire (AUTH_CACHE_SECONDS,
COUNT_CACHE_SECONDS, CACHE_TTL_SECONDS), as they would without it: a
publish that fails is logged and never fails the request.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson

logger = logging.getLogger(__name__)

CHANNEL = f"{__package__}:invalidations"
# The wait before subscribing again after Redis went away, doubling up to the last.
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)


class Invalidations:
    """Apply here, publish to the others. `local` maps a message kind
    ("token", "user", "table", "cache") to what applies it in this worker."""

    def __init__(self, url: str | None, local: dict[str, Callable[[Any], None]]) -> None:
        self.url = url
        self._local = local
        self._client: Any = None
        self._pending: set[asyncio.Task[None]] = set()
        if url:
            import redis.asyncio  # only when configured, like the rate limiter's

            self._client = redis.asyncio.Redis.from_url(url, socket_timeout=2)

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
        if self._client is not None:
            task = asyncio.get_running_loop().create_task(self._publish(kind, value))
            self._pending.add(task)  # a reference until done, or it may be collected
            task.add_done_callback(self._pending.discard)

    async def _publish(self, kind: str, value: Any) -> None:
        try:
            await self._client.publish(CHANNEL, orjson.dumps({"kind": kind, "value": value}))
        except Exception as exc:  # Redis down: the others catch up by expiry
            logger.warning("could not publish a %s invalidation: %s", kind, exc)

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
        """Subscribe and apply until cancelled, subscribing again after an outage."""
        if self._client is None:
            return
        failures = 0
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    failures = 0
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.apply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                logger.warning("invalidations: %s; subscribing again in %.1f s", exc, delay)
                await asyncio.sleep(delay)

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
