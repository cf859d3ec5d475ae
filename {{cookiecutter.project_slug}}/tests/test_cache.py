import pytest

from {{ cookiecutter.project_slug }}.users import create_user

from tests.conftest import client_for

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


async def test_cache_is_bounded(app_with, api):
    async with app_with(cache_max_entries=3) as app, client_for(app) as client:
        token = await create_user(app.state.engine, "c@example.org")
        headers = {"Authorization": f"Bearer {token}"}
        for size in range(1, 8):
            response = await client.get(f"{api}/venues?page_size={size}", headers=headers)
            assert response.status_code == 200
        assert len(app.state.cache) == 3
