"""Races between requests, each settled where it happens: a delete during a
download (the file is open before the answer), a logout during a token
lookup (the cache refuses an answer older than the logout), two
administrators removing each other (one UPDATE, serialized). Each test fails
without its fix, on SQLite and on PostgreSQL."""

import asyncio
import os
import statistics
import time

import pytest
from sqlalchemy import select, update

from {{ cookiecutter.project_slug }}.accounts import USERS
from {{ cookiecutter.project_slug }}.users import create_user

from tests.conftest import client_for
from tests.helpers import assert_error, create_upload
from tests.test_broadcast import two_instances

pytestmark = pytest.mark.anyio

DATA = os.urandom(300_000)  # several 64 KiB reads
RANGES = [
    ({}, 200, DATA),
    ({"Range": "bytes=1000-199999"}, 206, DATA[1000:200000]),
]


async def test_a_delete_once_a_download_has_answered_leaves_it_whole(
    app, client, api, alice, settings
):
    """The DELETE commits and unlinks the file right after the download's
    headers are sent: the body is still every byte they announced."""

    async def deleting_after_the_headers(scope, receive, send):
        async def send_then_delete(message):
            await send(message)
            if message["type"] == "http.response.start":
                item = scope["path"].removesuffix("/content")
                assert (await client.delete(item, headers=alice)).status_code == 204

        await app(scope, receive, send_then_delete)

    async with client_for(deleting_after_the_headers) as racing:
        for headers, status, expected in RANGES:
            stored = await create_upload(client, api, alice, "big.bin", DATA)
            url = f"{api}/uploads/{stored['id']}/content"
            response = await racing.get(url, headers={**alice, **headers})
            assert response.status_code == status
            assert response.headers["content-length"] == str(len(expected))
            assert response.content == expected
            assert not (settings.upload_dir / stored["id"]).exists()
            assert_error(await client.get(url, headers=alice), 404, "not_found")


async def test_a_lookup_that_began_before_a_logout_does_not_revive_the_token(
    app, client, api, monkeypatch
):
    """A token lookup reads the token, then a logout commits and clears the
    cache, then the lookup finishes: what it read is not cached."""
    token = await create_user(app.state.engine, "kim@example.org")
    kim = {"Authorization": f"Bearer {token}"}
    read, release = asyncio.Event(), asyncio.Event()
    first = app.state.reader.first

    async def first_lookup_waits(stmt, values=None):
        row = await first(stmt, values) if values else await first(stmt)
        if values and "digest" in values and not read.is_set():
            read.set()
            await release.wait()
        return row

    monkeypatch.setattr(app.state.reader, "first", first_lookup_waits)
    early = asyncio.create_task(client.get(f"{api}/users/me", headers=kim))
    await read.wait()  # the token was still there
    assert (await client.post(f"{api}/auth/logout", headers=kim)).status_code == 204
    release.set()
    assert (await early).status_code == 200  # it began before the logout
    assert_error(await client.get(f"{api}/users/me", headers=kim), 401, "unauthorized")


ROUNDS = 20


async def test_another_instance_refuses_a_logged_out_token_within_the_redis_delivery(
    app_with, api, redis_server
):
    """From the logout's 204 on instance A, instance B (which had the token
    cached) is polled until it answers 401: that window is Redis delivering
    the invalidation, a few milliseconds."""
    windows = []
    async with two_instances(app_with, redis_server.url) as (a, client_a, client_b):
        for n in range(ROUNDS):
            token = await create_user(a.state.engine, f"kim{n}@example.org")
            kim = {"Authorization": f"Bearer {token}"}
            for client in (client_a, client_b):
                assert (await client.get(f"{api}/users/me", headers=kim)).status_code == 200
            assert (await client_a.post(f"{api}/auth/logout", headers=kim)).status_code == 204
            answered = time.monotonic()
            while (await client_b.get(f"{api}/users/me", headers=kim)).status_code == 200:
                assert time.monotonic() - answered < 1, "the logout did not reach B"
            windows.append(time.monotonic() - answered)
    print(
        f"B refused the token {statistics.median(windows) * 1000:.1f} ms (median), "
        f"{max(windows) * 1000:.1f} ms (max) after A's 204, over {ROUNDS} logouts"
    )


REMOVALS = [{"is_admin": False}, {"is_active": False}]


@pytest.mark.parametrize("change", REMOVALS, ids=["demote", "disable"])
async def test_two_administrators_removing_each_other_leave_one(app_with, api, change):
    """Two instances (two engines, two pools) on one database: each
    administrator removes the other at the same moment, round after round.
    One wins; the other gets a 409 saying why."""
    async with (
        app_with(rate_limit_enabled=False) as a,
        app_with(rate_limit_enabled=False) as b,
        client_for(a) as client_a,
        client_for(b) as client_b,
    ):
        ids, sides = [], []
        for name, app, client in (("ann", a, client_a), ("ben", b, client_b)):
            token = await create_user(app.state.engine, f"{name}@example.org", is_admin=True)
            headers = {"Authorization": f"Bearer {token}"}
            ids.append((await client.get(f"{api}/users/me", headers=headers)).json()["id"])
            sides.append((client, headers))
        for _ in range(5):
            (client_1, ann), (client_2, ben) = sides
            answers = await asyncio.gather(
                client_1.patch(f"{api}/admin/users/{ids[1]}", json=change, headers=ann),
                client_2.patch(f"{api}/admin/users/{ids[0]}", json=change, headers=ben),
            )
            assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
            refused = next(r for r in answers if r.status_code == 409)
            assert "last active administrator" in assert_error(refused, 409, "conflict")["message"]
            async with a.state.engine.begin() as conn:
                active = select(USERS.c.id).where(USERS.c.is_admin, USERS.c.is_active)
                assert len((await conn.execute(active)).all()) == 1
                # Both administrators again, for the next round.
                await conn.execute(update(USERS).values(is_admin=True, is_active=True))
