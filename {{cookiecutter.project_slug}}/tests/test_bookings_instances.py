"""The example's venues: their list is cached by each instance (cache.py) and
cleared on every instance when a venue is written."""

import pytest

from tests.test_broadcast import _token, eventually, two_instances

pytestmark = pytest.mark.anyio


async def test_venue_list_is_cached_and_invalidated_on_write(client, api, alice, admin, app):
    cache = app.state.cache
    assert (
        await client.post(f"{api}/venues", json={"name": "A"}, headers=admin)
    ).status_code == 201
    first = (await client.get(f"{api}/venues", headers=alice)).json()
    again = (await client.get(f"{api}/venues", headers=alice)).json()
    assert first == again
    assert (cache.misses, cache.hits) == (1, 1)
    assert (
        await client.post(f"{api}/venues", json={"name": "B"}, headers=admin)
    ).status_code == 201
    after_write = (await client.get(f"{api}/venues", headers=alice)).json()
    assert [venue["name"] for venue in after_write["items"]] == ["A", "B"]


async def test_a_cleared_cache_and_cursors_agree(app_with, api, redis_server):
    async with two_instances(app_with, redis_server.url) as (a, client_a, client_b):
        admin = await _token(a, "root@example.org", admin=True)
        for name in ("Hall A", "Hall B", "Hall C"):
            assert (
                await client_a.post(f"{api}/venues", json={"name": name}, headers=admin)
            ).status_code == 201
        first = (await client_b.get(f"{api}/venues?page_size=2", headers=admin)).json()
        assert [v["name"] for v in first["items"]] == ["Hall A", "Hall B"]
        # A cursor B signed, read by A (one CURSOR_SECRET for every instance).
        cursor = first["pagination"]["next_cursor"]
        rest = await client_a.get(f"{api}/venues", params={"cursor": cursor}, headers=admin)
        assert rest.status_code == 200 and [v["name"] for v in rest.json()["items"]] == ["Hall C"]
        # B's cached page is dropped when A creates a venue.
        assert (
            await client_a.post(f"{api}/venues", json={"name": "Hall 0"}, headers=admin)
        ).status_code == 201

        async def seen_by_b() -> bool:
            page = (await client_b.get(f"{api}/venues?page_size=2", headers=admin)).json()
            return bool(page["items"][0]["name"] == "Hall 0")

        await eventually(seen_by_b)
