"""Rate limits: per route and client, declared overrides, JSON 429s, health
exempt; a Redis store shared by workers, and counted per worker while it is away."""

import asyncio
import logging

import pytest

from {{ cookiecutter.project_slug }}.settings import SettingsError, load_settings

from tests.conftest import client_for
from tests.helpers import assert_error, bearer, clear_of_a_window_edge

pytestmark = pytest.mark.anyio
BREAKER = "{{ cookiecutter.project_slug }}.breaker"


async def test_the_default_limit_is_per_client_and_answers_429_json(app_with, api):
    async with app_with(rate_limit_default="3/minute") as app, client_for(app) as client:
        alice, bob = await bearer(app, "a@example.org"), await bearer(app, "b@example.org")
        await asyncio.sleep(clear_of_a_window_edge())
        statuses = [
            (await client.get(f"{api}/uploads", headers=alice)).status_code for _ in range(3)
        ]
        refused = await client.get(f"{api}/uploads", headers=alice)
        other_user = await client.get(f"{api}/uploads", headers=bob)
        other_route = await client.get(f"{api}/users/me", headers=alice)
        health = [(await client.get(f"{api}/health")).status_code for _ in range(10)]
    assert statuses == [200, 200, 200]
    error = assert_error(refused, 429, "rate_limited")
    assert error["message"] == "Rate limit exceeded: 3 per minute"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert other_user.status_code == 200 and other_route.status_code == 200
    assert health == [200] * 10  # health checks are never limited


async def test_a_declared_limit_is_its_routes_own(app_with, api):
    # Uploads declare 30/minute: stricter than this default, and not the list's.
    async with app_with(rate_limit_default="1000/minute") as app, client_for(app) as client:
        alice = await bearer(app, "a@example.org")
        files = {"file": ("notes.txt", b"some text", "text/plain")}
        await asyncio.sleep(clear_of_a_window_edge(margin=15))
        statuses = [
            (await client.post(f"{api}/uploads", files=files, headers=alice)).status_code
            for _ in range(31)
        ]
        listed = await client.get(f"{api}/uploads", headers=alice)
    assert statuses == [201] * 30 + [429]
    assert listed.status_code == 200


async def test_without_a_valid_token_the_client_address_is_limited(app_with, api):
    # Guessing tokens costs a lookup each: the guesses count against the address.
    async with app_with(rate_limit_default="3/minute") as app, client_for(app) as client:
        await asyncio.sleep(clear_of_a_window_edge())
        guesses = [
            (await client.get(f"{api}/uploads", headers={"Authorization": f"Bearer guess{n}"}))
            for n in range(4)
        ]
    assert [r.status_code for r in guesses] == [401, 401, 401, 429]


async def test_limits_can_be_switched_off(app_with, api):
    off = {"rate_limit_default": "1/minute", "rate_limit_enabled": False}
    async with app_with(**off) as app, client_for(app) as client:
        alice = await bearer(app, "a@example.org")
        statuses = {
            (await client.get(f"{api}/uploads", headers=alice)).status_code for _ in range(5)
        }
    assert statuses == {200}


@pytest.mark.parametrize("value", ["lots", "10/fortnight", "ten/minute", ""])
def test_a_bad_default_is_refused_by_name(value):
    with pytest.raises(SettingsError, match="RATE_LIMIT_DEFAULT"):
        load_settings(rate_limit_default=value, _env_file=None)


# ---------------------------------------------------------------- Redis


async def test_workers_sharing_redis_share_the_limit(app_with, api, redis_server):
    # Two apps stand for two workers (or two instances) with one store.
    settings = {"rate_limit_default": "4/minute", "rate_limit_storage": redis_server.url}
    async with app_with(**settings) as first, app_with(**settings) as second:
        alice = await bearer(first, "a@example.org")
        async with client_for(first) as one, client_for(second) as two:
            await asyncio.sleep(clear_of_a_window_edge())
            statuses = [
                (await client.get(f"{api}/uploads", headers=alice)).status_code
                for client in (one, two, one, two, one)
            ]
    assert statuses == [200, 200, 200, 200, 429]


async def test_when_redis_goes_away_limits_are_counted_per_worker(
    app_with, api, redis_server, caplog
):
    settings = {"rate_limit_default": "2/minute", "rate_limit_storage": redis_server.url}
    async with app_with(**settings) as app, client_for(app) as client:
        alice = await bearer(app, "a@example.org")
        await asyncio.sleep(clear_of_a_window_edge(margin=15))
        limited = [
            (await client.get(f"{api}/uploads", headers=alice)).status_code for _ in range(3)
        ]
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger=BREAKER):
            in_worker = [
                (await client.get(f"{api}/uploads", headers=alice)).status_code for _ in range(3)
            ]
        redis_server.start()  # back, and empty: counting starts again
        async with asyncio.timeout(10):  # until the probe reaches it
            await app.state.rate_limiter.breaker.wait_closed()
        again = [(await client.get(f"{api}/uploads", headers=alice)).status_code for _ in range(3)]
    assert limited == [200, 200, 429]
    assert in_worker == [200, 200, 429]  # counted in this process meanwhile
    opened, closed = [r.getMessage() for r in caplog.records if r.name == BREAKER]
    assert "rate limits are counted per worker process" in opened
    assert closed.startswith("Redis reachable again")
    assert again == [200, 200, 429]
