"""The Redis circuit breaker, against a real redis-server frozen with SIGSTOP
(connections stay open, nothing answers: what costs requests the timeout).

Once the breaker is open no request waits for Redis, rate limits are counted
per worker, invalidations are dropped and the caches they keep coherent are
shortened; after SIGCONT the probe closes it, shared limits and broadcasts
resume."""

import asyncio
import contextlib
import logging
import os
import signal
import statistics
import time

import pytest

from {{ cookiecutter.project_slug }}.breaker import REDIS_TIMEOUT_SECONDS, RedisBreaker
from {{ cookiecutter.project_slug }}.broadcast import OUTAGE_CACHE_SECONDS, Invalidations

from tests.conftest import client_for
from tests.helpers import bearer, clear_of_a_window_edge, create_upload
from tests.test_broadcast import LONG, eventually, subscribed

pytestmark = pytest.mark.anyio

BREAKER, BROADCAST = RedisBreaker.__module__, Invalidations.__module__  # their loggers
OURS = (BREAKER, BROADCAST)


@contextlib.contextmanager
def frozen(redis_server):
    """The server stopped in its tracks until the block ends, whatever happens in it."""
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)


async def timed(request) -> tuple[int, float]:
    started = time.perf_counter()
    response = await request
    return response.status_code, time.perf_counter() - started


async def closed(app, seconds: float = 10) -> None:
    """Wait until the probe has closed `app`'s breaker."""

    async def is_closed() -> bool:
        return not app.state.rate_limiter.breaker.is_open

    await eventually(is_closed, seconds)


def messages(caplog, logger: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger]


async def test_once_open_no_request_waits_for_a_frozen_redis(app_with, api, redis_server, caplog):
    settings = {"rate_limit_default": "22/minute", "rate_limit_storage": redis_server.url}
    async with app_with(**settings) as app, client_for(app) as client:
        alice = await bearer(app, "a@example.org")
        await asyncio.sleep(clear_of_a_window_edge())
        with frozen(redis_server), caplog.at_level(logging.WARNING, logger=BREAKER):
            opening = await timed(client.get(f"{api}/uploads", headers=alice))
            after = [await timed(client.get(f"{api}/uploads", headers=alice)) for _ in range(22)]
    # The first request waited the timeout, and opened the breaker.
    assert opening[0] == 200 and opening[1] >= REDIS_TIMEOUT_SECONDS * 0.9
    durations = [seconds for _, seconds in after[:20]]
    assert statistics.median(durations) < REDIS_TIMEOUT_SECONDS / 2, durations
    # Still limited meanwhile, per worker: 22 a minute, the opening one included.
    assert [status for status, _ in after] == [200] * 21 + [429]
    [warning] = messages(caplog, BREAKER)
    assert "breaker open" in warning and "rate limits are counted per worker process" in warning


async def test_after_a_thaw_the_probe_closes_it_and_limits_are_shared_again(
    app_with, api, redis_server, caplog
):
    # Two apps stand for two workers with one store.
    settings = {"rate_limit_default": "3/minute", "rate_limit_storage": redis_server.url}
    async with app_with(**settings) as first, app_with(**settings) as second:
        alice, bob = await bearer(first, "a@example.org"), await bearer(first, "b@example.org")
        async with client_for(first) as one, client_for(second) as two:
            await asyncio.sleep(clear_of_a_window_edge())
            with caplog.at_level(logging.WARNING, logger=BREAKER):
                with frozen(redis_server):
                    await one.get(f"{api}/uploads", headers=alice)
                    assert first.state.rate_limiter.breaker.is_open
                await closed(first)
            # A client not seen during the freeze: counted in Redis only.
            statuses = [
                (await client.get(f"{api}/uploads", headers=bob)).status_code
                for client in (one, two, one, two)
            ]
    assert statuses == [200, 200, 200, 429]
    assert messages(caplog, BREAKER)[-1] == (
        "Redis reachable again: shared rate limits and broadcasts resumed"
    )


async def test_broadcasts_are_dropped_and_caches_shortened_while_open(
    app_with, api, redis_server, caplog
):
    # Instances that cache for minutes, with rate limits and invalidations in one Redis.
    settings = {"rate_limit_default": "1000/minute", "rate_limit_storage": redis_server.url}
    async with (
        app_with(**settings, **LONG) as a,
        app_with(**settings, **LONG) as b,
        client_for(a) as client_a,
        client_for(b) as client_b,
    ):
        await subscribed(redis_server.url, 2)
        kim, lee = await bearer(a, "kim@example.org"), await bearer(a, "lee@example.org")
        for client in (client_a, client_b):  # cached by both
            assert (await client.get(f"{api}/users/me", headers=kim)).status_code == 200

        async def refused_by_b(headers) -> bool:
            status: int = (await client_b.get(f"{api}/users/me", headers=headers)).status_code
            return status == 401

        with frozen(redis_server), caplog.at_level(logging.WARNING):
            # Writes succeed; what they publish is dropped, with one warning.
            assert (await client_a.post(f"{api}/auth/logout", headers=kim)).status_code == 204
            for _ in range(3):
                await create_upload(client_a, api, lee)
            # B learns of the outage from its next request, and stops trusting its cache.
            await eventually(lambda: refused_by_b(kim), seconds=OUTAGE_CACHE_SECONDS + 1)
            # What B caches meanwhile lives OUTAGE_CACHE_SECONDS, not minutes.
            await b.state.cache.get_or_load("key", _page)
            await asyncio.sleep(OUTAGE_CACHE_SECONDS + 0.1)
            expired = len(b.state.cache) == 0
        assert expired
        assert len([m for m in messages(caplog, BROADCAST) if "could not publish" in m]) == 1

        # Once closed, the listeners subscribe again and a logout travels at once.
        await closed(a)
        await closed(b)
        await subscribed(redis_server.url, 2)
        assert (await client_b.get(f"{api}/users/me", headers=lee)).status_code == 200
        assert (await client_a.post(f"{api}/auth/logout", headers=lee)).status_code == 204
        await eventually(lambda: refused_by_b(lee))


async def _page() -> str:
    return "page"


async def test_while_redis_is_down_the_listener_waits_quietly(app_with, redis_server, caplog):
    # No request touches Redis here: the subscription alone finds it gone.
    async with app_with(rate_limit_storage=redis_server.url) as app:
        await subscribed(redis_server.url, 1)
        breaker = app.state.rate_limiter.breaker

        async def is_open() -> bool:
            return bool(breaker.is_open)

        with caplog.at_level(logging.INFO):
            redis_server.stop()
            await eventually(is_open, seconds=10)
            await asyncio.sleep(2 * breaker.probe_seconds)  # time to spin, if it did
            during = [(r.name, r.levelname) for r in caplog.records if r.name in OURS]
            redis_server.start()
            await closed(app)
        await subscribed(redis_server.url, 1)
    # The failures in a row that opened it, then nothing until it closed.
    failures = breaker.failures_to_open
    assert during == [(BREAKER, "INFO")] * (failures - 1) + [(BREAKER, "WARNING")]
