"""What one rate-limit hit costs in a worker's own counters, by how many
clients they hold: limits' async MemoryStorage against the service's
local_counters.py. Prints JSON: microseconds a hit, by storage and clients.

python rate_counters.py PACKAGE

Each hit is followed by a turn of the event loop, as a server's requests are:
limits' storage does its sweep in a task that runs at that turn.
"""

import asyncio
import importlib
import json
import sys
import time

import uvloop
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

CLIENTS = (1, 1_000, 10_000)
ITEM = parse("1000000/minute")


async def per_hit_us(storage, clients: int, hits: int) -> float:
    limiter = SlidingWindowCounterRateLimiter(storage)
    for client in range(clients):
        await limiter.hit(ITEM, f"user:{client}", "route")
    await asyncio.sleep(0)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(hits):
            await limiter.hit(ITEM, "user:0", "route")
            await asyncio.sleep(0)
        best = min(best, (time.perf_counter() - started) / hits)
    return best * 1e6


async def main(package: str) -> None:
    local_counters = importlib.import_module(f"{package}.local_counters").LocalCounters
    figures: dict[str, dict[str, float]] = {"limits_memory": {}, "local_counters": {}}
    await per_hit_us(MemoryStorage(), 1, 2_000)  # warm-up: first calls, caches
    for clients in CLIENTS:
        hits = 200 if clients > 1_000 else 2_000
        figures["limits_memory"][str(clients)] = await per_hit_us(MemoryStorage(), clients, hits)
        figures["local_counters"][str(clients)] = await per_hit_us(local_counters(), clients, hits)
    print(json.dumps(figures))


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(sys.argv[1]))
