"""The in-process rate-limit counters (local_counters.py): the same verdicts
as limits' own MemoryStorage, hit for hit, and a cost per hit that does not
grow with the number of clients counted."""

import asyncio
import random
import time

import pytest
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from {{ cookiecutter.project_slug }}.local_counters import LocalCounters

pytestmark = pytest.mark.anyio


class Clock:
    """time.time() as the test sets it (both storages read it)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    return clock


async def test_hits_get_the_verdicts_limits_own_storage_gives(clock):
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    ours = SlidingWindowCounterRateLimiter(LocalCounters())
    theirs = SlidingWindowCounterRateLimiter(MemoryStorage())
    items = [parse("5/second"), parse("20/minute"), parse("3/10 seconds")]
    for step in range(3000):
        clock.now += rng.choice((0.0, 0.01, 0.2, 1.0, 7.0, 45.0))
        item, client = rng.choice(items), f"user:{rng.randrange(4)}"
        assert await ours.hit(item, client, "route") == await theirs.hit(item, client, "route"), (
            seed,
            step,
        )
        mine = await ours.get_window_stats(item, client, "route")
        reference = await theirs.get_window_stats(item, client, "route")
        assert mine.remaining == reference.remaining, (seed, step)
        assert mine.reset_time == pytest.approx(reference.reset_time), (seed, step)


async def test_expired_counters_are_dropped(clock):
    counters = LocalCounters()
    limiter = SlidingWindowCounterRateLimiter(counters)
    item = parse("10/minute")
    for client in range(1000):
        assert await limiter.hit(item, f"user:{client}", "route")
    assert len(counters) == 1000
    clock.now += 2 * 60 + 1  # past two windows: nothing of theirs still counts
    assert await limiter.hit(item, "user:new", "route")
    assert len(counters) == 1


async def test_a_hit_costs_the_same_with_ten_thousand_clients_counted():
    """Cost ratios inside one run, not times: limits' MemoryStorage walked
    every key on each hit, in a task that ran at the loop's next turn (11 us
    with one client, 885 us with 10,000)."""
    item = parse("1000000/minute")

    async def per_hit(clients: int) -> float:
        limiter = SlidingWindowCounterRateLimiter(LocalCounters())
        for client in range(clients):
            await limiter.hit(item, f"user:{client}", "route")
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(2000):
                await limiter.hit(item, "user:0", "route")
                await asyncio.sleep(0)  # a turn of the loop, as between a server's requests
            best = min(best, time.perf_counter() - started)
        return best

    alone, crowded = await per_hit(1), await per_hit(10_000)
    assert crowded < 3 * alone, (alone, crowded)
