"""A bounded TTL cache for hot reads that change rarely (venues).

One cache per worker process, kept on app.state: nothing is shared between
workers, so after a write another worker may serve its cached copy until the
entry expires (CACHE_TTL_SECONDS). Bounded by CACHE_MAX_ENTRIES, so it can
never grow with traffic. cachetools does the expiry and eviction.
"""

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from cachetools import TTLCache


class ReadCache:
    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self._ttl_seconds = ttl_seconds
        self._entries: TTLCache[Hashable, Any] = TTLCache(maxsize=max_entries, ttl=ttl_seconds)
        self.hits = 0
        self.misses = 0

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = self._entries[key]
        except KeyError:
            # Two concurrent misses may both load; both results are equal, and
            # a lock per key would cost more than the rare duplicate query.
            self.misses += 1
            value = self._entries[key] = await load()
            return value
        self.hits += 1
        return value

    def clear(self) -> None:
        self._entries.clear()

    def cap_lifetime(self, seconds: float | None) -> None:
        """Keep entries `seconds` at most (None: CACHE_TTL_SECONDS again),
        starting empty: while invalidations cannot travel (broadcast.py),
        what is cached may be stale."""
        ttl = self._ttl_seconds if seconds is None else min(self._ttl_seconds, seconds)
        self._entries = TTLCache(maxsize=self._entries.maxsize, ttl=ttl)

    def __len__(self) -> int:
        return len(self._entries)
