"""Rate-limit counters kept in this process: a `limits` storage whose cost
per hit does not grow with the number of clients it counts.

Hand-written because limits' own async MemoryStorage (5.x) starts a task on
every hit that walks all of its keys to drop the expired ones: a hit cost
11 us with one client counted, 88 us with 1,000 and 885 us with 10,000 (the
template's bench, `rate_counters`), so a busy worker slowed down with every
new client of the last two minutes (tests/test_local_counters.py holds the
growth to a bound). The counters are the same as limits keeps them (a count
and an expiry per key, a sliding window read from two fixed windows' keys);
expired keys leave through a heap ordered by expiry, so a hit costs
O(log n) and starts no task.

Nothing here awaits, so a hit's read and increment cannot interleave with
another request's: the check and the count are one step.
"""

import heapq
import math
import time

from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow


class LocalCounters(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    STORAGE_SCHEME = None  # built directly (ratelimit.py), never from a URI

    def __init__(self) -> None:
        super().__init__()
        self._counts: dict[str, int] = {}
        self._expiries: dict[str, float] = {}
        self._by_expiry: list[tuple[float, str]] = []  # a heap; stale entries are skipped

    def __len__(self) -> int:
        """Keys held: expired ones count until the next hit drops them."""
        return len(self._counts)

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError  # no network here: nothing to tell apart

    # ---------------------------------------------------------- counters

    def _drop_expired(self, now: float) -> None:
        heap = self._by_expiry
        while heap and heap[0][0] <= now:
            at, key = heapq.heappop(heap)
            if self._expiries.get(key) == at:
                del self._counts[key], self._expiries[key]

    def _count(self, key: str, now: float) -> int:
        return self._counts.get(key, 0) if self._expiries.get(key, 0.0) > now else 0

    def _add(self, key: str, expiry: float, amount: int, now: float) -> int:
        self._drop_expired(now)
        count = self._counts.get(key, 0) + amount
        self._counts[key] = count
        if count == amount:  # a new key: its expiry starts now, as in limits
            at = now + expiry
            self._expiries[key] = at
            heapq.heappush(self._by_expiry, (at, key))
        return count

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return self._add(key, expiry, amount, time.time())

    async def get(self, key: str) -> int:
        return self._count(key, time.time())

    async def get_expiry(self, key: str) -> float:
        now = time.time()
        return self._expiries[key] if self._count(key, now) else now

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        cleared = len(self._counts)
        self._counts.clear()
        self._expiries.clear()
        self._by_expiry.clear()
        return cleared

    async def clear(self, key: str) -> None:
        self._counts.pop(key, None)
        self._expiries.pop(key, None)

    # ---------------------------------------------------- sliding windows

    def _window(
        self, previous_key: str, current_key: str, expiry: int, now: float
    ) -> tuple[int, float, int, float]:
        """(previous count, its time to live, current count, its time to live),
        computed as limits' MemoryStorage computes them."""
        previous, current = self._count(previous_key, now), self._count(current_key, now)
        previous_ttl = 0.0 if previous == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, current, current_ttl

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        previous, previous_ttl, current, _ = self._window(previous_key, current_key, expiry, now)
        if math.floor(previous * previous_ttl / expiry + current) + amount > limit:
            return False
        # Kept two windows: it is the previous window during the next one.
        self._add(current_key, 2 * expiry, amount, now)
        return True

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = time.time()
        return self._window(*self.sliding_window_keys(key, expiry, now), expiry, now)

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        for window_key in self.sliding_window_keys(key, expiry, time.time()):
            await self.clear(window_key)
