import pytest
from fastapi import Request

from tests.conftest import client_for

pytestmark = pytest.mark.anyio


async def _cached_size(request: Request, size: int) -> dict[str, int]:
    """A read through the app's cache, as a list of rows that rarely change uses it."""

    async def load() -> dict[str, int]:
        return {"size": size}

    cached: dict[str, int] = await request.app.state.cache.get_or_load(("size", size), load)
    return cached


async def test_reads_are_cached_until_the_cache_is_cleared(app, client, api):
    cache = app.state.cache
    app.router.add_api_route(f"{api}/cached", _cached_size)
    first = (await client.get(f"{api}/cached?size=1")).json()
    again = (await client.get(f"{api}/cached?size=1")).json()
    assert first == again == {"size": 1}
    assert (cache.misses, cache.hits) == (1, 1)
    app.state.invalidations.clear_cache()  # what a write to the cached rows does
    assert len(cache) == 0
    assert (await client.get(f"{api}/cached?size=1")).json() == first
    assert (cache.misses, cache.hits) == (2, 1)


async def test_cache_is_bounded(app_with, api):
    async with app_with(cache_max_entries=3) as app, client_for(app) as client:
        app.router.add_api_route(f"{api}/cached", _cached_size)
        for size in range(1, 8):
            response = await client.get(f"{api}/cached?size={size}")
            assert response.status_code == 200
        assert len(app.state.cache) == 3
