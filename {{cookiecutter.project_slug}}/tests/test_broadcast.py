"""Instances that agree: two apps (two instances, each with its own caches)
on one database and one real redis-server. A logout, a disabled user, a
revoked token, a written table and a cleared cache reach the other instance
within about a second, where without Redis it would wait for its cache
entries to expire (AUTH_CACHE_SECONDS, COUNT_CACHE_SECONDS: long here); a
cursor signed by one instance is accepted by the other."""

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
import pytest
from redis.asyncio import Redis

from {{ cookiecutter.project_slug }}.broadcast import CHANNEL
from {{ cookiecutter.project_slug }}.users import create_user

from tests.conftest import client_for
from tests.helpers import create_upload

pytestmark = pytest.mark.anyio

PACKAGE = create_user.__module__.partition(".")[0]
LONG = {"auth_cache_seconds": 300, "count_cache_seconds": 300, "cache_ttl_seconds": 300}


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 1.5) -> float:
    """How long `check` took to hold (it must within `seconds`)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, "not reached in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def subscribed(redis_url: str, workers: int) -> None:
    """Wait until `workers` listeners have subscribed (each subscribes in a
    task of its own, started by the lifespan): a message published before
    would reach no one."""
    async with Redis.from_url(redis_url) as redis:

        async def counted() -> bool:
            [(_channel, count)] = await redis.pubsub_numsub(CHANNEL)
            return bool(count == workers)

        await eventually(counted, seconds=10)


@contextlib.asynccontextmanager
async def two_instances(app_with, redis_url: str):
    async with (
        app_with(broadcast_url=redis_url, **LONG) as a,
        app_with(broadcast_url=redis_url, **LONG) as b,
        client_for(a) as client_a,
        client_for(b) as client_b,
    ):
        await subscribed(redis_url, 2)
        yield a, client_a, client_b


async def _token(app, email: str, *, admin: bool = False) -> dict[str, str]:
    token = await create_user(app.state.engine, email, is_admin=admin)
    return {"Authorization": f"Bearer {token}"}


async def test_a_logout_reaches_the_other_instance(app_with, api, redis_server):
    async with two_instances(app_with, redis_server.url) as (a, client_a, client_b):
        kim = await _token(a, "kim@example.org")
        for client in (client_a, client_b):  # cached by both
            assert (await client.get(f"{api}/users/me", headers=kim)).status_code == 200
        assert (await client_a.post(f"{api}/auth/logout", headers=kim)).status_code == 204

        async def refused_by_b() -> bool:
            status: int = (await client_b.get(f"{api}/users/me", headers=kim)).status_code
            return status == 401

        await eventually(refused_by_b)


async def test_a_disabled_user_is_refused_by_the_other_instance(app_with, api, redis_server):
    async with two_instances(app_with, redis_server.url) as (a, client_a, client_b):
        admin = await _token(a, "root@example.org", admin=True)
        kim = await _token(a, "kim@example.org")
        me = (await client_b.get(f"{api}/users/me", headers=kim)).json()
        changed = await client_a.patch(
            f"{api}/admin/users/{me['id']}", json={"is_active": False}, headers=admin
        )
        assert changed.status_code == 200, changed.text

        async def refused_by_b() -> bool:
            status: int = (await client_b.get(f"{api}/users/me", headers=kim)).status_code
            return status == 401

        await eventually(refused_by_b)


async def test_revoke_token_reaches_running_instances(app_with, api, redis_server, database_url):
    async with two_instances(app_with, redis_server.url) as (a, client_a, client_b):
        kim = await _token(a, "kim@example.org")
        for client in (client_a, client_b):
            assert (await client.get(f"{api}/users/me", headers=kim)).status_code == 200
        revoked = await anyio.run_process(
            [sys.executable, "-m", PACKAGE, "revoke-token", "kim@example.org"],
            env={**os.environ, "DATABASE_URL": database_url, "BROADCAST_URL": redis_server.url},
            check=False,
        )
        assert revoked.returncode == 0, revoked.stderr.decode()

        async def refused_by_both() -> bool:
            codes = [
                (await c.get(f"{api}/users/me", headers=kim)).status_code
                for c in (client_a, client_b)
            ]
            return codes == [401, 401]

        await eventually(refused_by_both)


async def test_a_write_drops_the_other_instances_total(app_with, api, redis_server):
    async with two_instances(app_with, redis_server.url) as (a, client_a, client_b):
        kim = await _token(a, "kim@example.org")
        await create_upload(client_a, api, kim)

        async def total_on_b() -> int:
            page = (await client_b.get(f"{api}/uploads", headers=kim)).json()
            return int(page["pagination"]["total"])

        assert await total_on_b() == 1  # now cached on B for COUNT_CACHE_SECONDS
        await create_upload(client_a, api, kim)

        async def recounted() -> bool:
            return await total_on_b() == 2

        await eventually(recounted)


async def test_a_cleared_cache_reaches_the_other_instance(app_with, redis_server):
    async with (
        app_with(broadcast_url=redis_server.url, **LONG) as a,
        app_with(broadcast_url=redis_server.url, **LONG) as b,
    ):
        await subscribed(redis_server.url, 2)
        loads = []

        async def load() -> str:
            loads.append(1)
            return "page"

        for _ in range(2):  # loaded once, then cached by B for CACHE_TTL_SECONDS
            assert await b.state.cache.get_or_load("key", load) == "page"
        assert (len(loads), len(b.state.cache)) == (1, 1)
        a.state.invalidations.clear_cache()

        async def cleared_on_b() -> bool:
            return len(b.state.cache) == 0

        await eventually(cleared_on_b)
        await b.state.cache.get_or_load("key", load)
        assert len(loads) == 2


async def test_a_cursor_signed_by_one_instance_is_read_by_the_other(app_with, api, redis_server):
    async with two_instances(app_with, redis_server.url) as (a, client_a, client_b):
        admin = await _token(a, "root@example.org", admin=True)
        for name in ("kim", "lee"):
            await _token(a, f"{name}@example.org")
        first = (await client_b.get(f"{api}/admin/users?page_size=2", headers=admin)).json()
        assert [u["email"] for u in first["items"]] == ["root@example.org", "kim@example.org"]
        # A cursor B signed, read by A (one CURSOR_SECRET for every instance).
        cursor = first["pagination"]["next_cursor"]
        rest = await client_a.get(f"{api}/admin/users", params={"cursor": cursor}, headers=admin)
        assert rest.status_code == 200, rest.text
        assert [u["email"] for u in rest.json()["items"]] == ["lee@example.org"]


async def test_without_redis_a_write_still_succeeds(app_with, api, redis_server, caplog):
    async with app_with(broadcast_url=redis_server.url, **LONG) as app, client_for(app) as client:
        kim = await _token(app, "kim@example.org")
        redis_server.stop()
        created = await create_upload(client, api, kim)
        assert created["id"]
        assert (await client.post(f"{api}/auth/logout", headers=kim)).status_code == 204
        assert (await client.get(f"{api}/users/me", headers=kim)).status_code == 401
        await asyncio.sleep(0.1)  # the failed publishes are logged, not raised
    assert any("could not publish" in record.getMessage() for record in caplog.records)
