"""A circuit breaker per Redis, in each worker: a Redis out of reach must not
cost every request its timeout. Rate limits (ratelimit.py) and invalidations
(broadcast.py) call Redis through it; a timeout, or REDIS_BREAKER_FAILURES
errors in a row, opens it: calls take their fallback at once, and a probe
pings Redis every REDIS_PROBE_SECONDS until an answer closes it.

Why it is built this way: docs/design-notes.md, "breaker.py".
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .settings import Settings

logger = logging.getLogger(__name__)

# A Redis that does not answer must not hold a request up for long: what a
# request asks of it, and the probe's ping, wait at most this long.
REDIS_TIMEOUT_SECONDS = 0.5

T = TypeVar("T")


class RedisBreaker:
    """Closed: calls go to Redis. Open: every call takes its fallback at once,
    and only the probe tries Redis (its half-open state) until it answers."""

    def __init__(self, url: str, failures_to_open: int, probe_seconds: float) -> None:
        import redis.exceptions  # only when Redis is configured

        self.url = url
        self.failures_to_open = failures_to_open
        self.probe_seconds = probe_seconds
        self.is_open = False
        self._failures = 0  # in a row, while closed
        self._timeouts = (TimeoutError, redis.exceptions.TimeoutError)
        self._opened, self._closed = asyncio.Event(), asyncio.Event()
        self._closed.set()
        self._uses: dict[str, str] = {}
        self._listeners: list[Callable[[bool], None]] = []

    def use(self, what: str, meanwhile: str) -> None:
        """Name what uses this Redis and what it does while the breaker is
        open: both are logged when it opens and closes."""
        self._uses[what] = meanwhile

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call `listener(is_open)` each time the breaker opens or closes."""
        self._listeners.append(listener)

    async def call(
        self, redis_call: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]
    ) -> T:
        """`redis_call()` while closed; `fallback()` while open, or when it fails."""
        if not self.is_open:
            try:
                result = await redis_call()
            except Exception as exc:  # whatever Redis does, the caller is served
                self.failed(exc)
            else:
                self._failures = 0
                return result
        return await fallback()

    def failed(self, exc: Exception) -> None:
        """A call to Redis failed. A timeout opens the breaker at once: each
        one cost every caller waiting on Redis the whole timeout. Other errors
        (a refused or dropped connection) cost nothing to wait for, so one
        alone, as when Redis restarts, does not; several in a row do."""
        if self.is_open:
            return  # calls that were under way when it opened
        self._failures += 1
        if isinstance(exc, self._timeouts) or self._failures >= self.failures_to_open:
            self._open(exc)
        else:
            logger.info(
                "Redis call failed (%d of %d in a row before the breaker opens): %s: %s",
                self._failures,
                self.failures_to_open,
                type(exc).__name__,
                exc,
            )

    def _open(self, exc: Exception) -> None:
        self.is_open = True
        self._closed.clear()
        self._opened.set()
        meanwhile = "; ".join(f"{what} {fallback}" for what, fallback in self._uses.items())
        logger.warning(
            "Redis unreachable (%s: %s): breaker open, no request waits for it until it "
            "answers a ping (tried every %g s); meanwhile %s",
            type(exc).__name__,
            exc,
            self.probe_seconds,
            meanwhile,
        )
        self._tell()

    def _close(self) -> None:
        self.is_open = False
        self._failures = 0
        self._opened.clear()
        self._closed.set()
        logger.warning("Redis reachable again: %s resumed", " and ".join(self._uses))
        self._tell()

    def _tell(self) -> None:
        for listener in self._listeners:
            listener(self.is_open)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def until_open(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` until it returns, raises, or the breaker opens, which
        cancels it (a subscription to a frozen Redis would wait forever)."""
        task = asyncio.ensure_future(work)
        opened = asyncio.ensure_future(self._opened.wait())
        try:
            await asyncio.wait((task, opened), return_when=asyncio.FIRST_COMPLETED)
        finally:
            opened.cancel()
            task.cancel()
            # Its cancellation through, even when this one is being cancelled:
            # nothing of it outlives the call.
            await asyncio.wait((task,))
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error

    async def probe(self) -> None:
        """Until cancelled: while open, ping Redis every REDIS_PROBE_SECONDS;
        the first answer closes the breaker."""
        while True:
            await self._opened.wait()
            await asyncio.sleep(self.probe_seconds)
            if await self._answers():
                self._close()

    async def _answers(self) -> bool:
        import redis.asyncio

        # A connection of its own, closed after each ping: none stays open
        # between outages. Bounded as a whole: connecting and reading both.
        client = redis.asyncio.Redis.from_url(self.url, socket_timeout=REDIS_TIMEOUT_SECONDS)
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS), client:
                await client.ping()
        except Exception:  # still out of reach: the next probe tries again
            return False
        return True


class RedisBreakers:
    """This worker's breakers: one per Redis the settings name, usually a
    single one for the rate limits and the broadcasts."""

    def __init__(self, settings: Settings) -> None:
        urls = (settings.rate_limit_storage, settings.broadcast_redis)
        self._by_url = {
            url: RedisBreaker(url, settings.redis_breaker_failures, settings.redis_probe_seconds)
            for url in urls
            if url and url.startswith(("redis://", "rediss://"))
        }

    def of(self, url: str | None) -> RedisBreaker | None:
        """The breaker of the Redis at `url` (None: not a Redis URL)."""
        return self._by_url.get(url) if url else None

    async def probe(self) -> None:
        """Every breaker's probe, until cancelled (the lifespan runs it as a task)."""
        await asyncio.gather(*(breaker.probe() for breaker in self._by_url.values()))
