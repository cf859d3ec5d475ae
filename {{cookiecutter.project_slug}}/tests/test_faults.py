"""Faults: no database, no free connection, a client that leaves, shutdown.

Each ends in a JSON answer the client can act on (503 with Retry-After), a
connection back in the pool, or a request that finishes: never a 500 or a
hang. (A real PostgreSQL stopped and started again under a running service
is the template's own test: tests/test_faults.py at its root.)
"""

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.db import SessionDep
from {{ cookiecutter.project_slug }}.export import ClosingStreamingResponse
from {{ cookiecutter.project_slug }}.settings import load_settings

from tests.conftest import client_for
from tests.helpers import assert_error, bearer, free_port

pytestmark = pytest.mark.anyio
POOL_TIMEOUT = 30.0  # far above what any answer below may take


async def test_without_a_database_requests_get_503_not_500(api):
    url = f"postgresql+asyncpg://nobody:nothing@127.0.0.1:{free_port()}/none"
    settings = load_settings(database_url=url, db_pool_timeout=POOL_TIMEOUT, _env_file=None)
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as client:
        started = time.monotonic()
        response = await client.get(
            f"{api}/users/me", headers={"Authorization": "Bearer " + "x" * 43}
        )
        elapsed = time.monotonic() - started
        ready = await client.get(f"{api}/health/ready")
        live = await client.get(f"{api}/health")
    error = assert_error(response, 503, "database_unavailable")
    assert "Traceback" not in error["message"] and "127.0.0.1" not in response.text
    assert response.headers["retry-after"] == "5"
    assert elapsed < POOL_TIMEOUT  # a refused connection answers at once, not after a timeout
    assert ready.status_code == 503 and live.status_code == 200


class Holder:
    """A route that checks a connection out and keeps it until released."""

    def __init__(self) -> None:
        self.entered, self.released = asyncio.Event(), asyncio.Event()

    async def route(self, session: SessionDep) -> dict[str, Any]:
        await session.execute(text("SELECT 1"))
        self.entered.set()
        await self.released.wait()
        return {"held": True}


async def test_an_exhausted_pool_gives_503_quickly(app_with, api):
    holder = Holder()
    async with app_with(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.5) as app:
        app.router.add_api_route(f"{api}/hold", holder.route)
        token = await bearer(app, "f@example.org")
        async with client_for(app) as client:
            holding = asyncio.create_task(client.get(f"{api}/hold"))
            await holder.entered.wait()
            refused = await client.get(f"{api}/uploads", headers=token)
            holder.released.set()
            assert (await holding).status_code == 200
            served = await client.get(f"{api}/uploads", headers=token)
    assert_error(refused, 503, "database_busy")
    assert refused.headers["retry-after"] == "1"
    assert served.status_code == 200


async def test_a_request_that_goes_away_gives_its_connection_back(app, api):
    holder = Holder()
    app.router.add_api_route(f"{api}/hold", holder.route)
    async with client_for(app) as client:
        request = asyncio.create_task(client.get(f"{api}/hold"))
        await holder.entered.wait()
        assert app.state.engine.pool.checkedout() == 1
        request.cancel()  # what the server does to a request whose client left
        with pytest.raises(asyncio.CancelledError):
            await request
    assert app.state.engine.pool.checkedout() == 0


async def test_an_export_without_a_connection_is_a_503_not_a_broken_200(app, api):
    released = []

    async def rows_without_a_connection():
        raise sa_exc.TimeoutError("QueuePool limit reached")
        yield b""  # an async generator, like the export's

    async def stuck_export() -> ClosingStreamingResponse:
        return ClosingStreamingResponse(
            rows_without_a_connection(), on_close=lambda: released.append(True), stall_seconds=30
        )

    app.router.add_api_route(f"{api}/stuck-export", stuck_export)
    async with client_for(app) as client:
        response = await client.get(f"{api}/stuck-export")
    assert_error(response, 503, "database_busy")
    assert released == [True]  # the export slot is given back


async def test_shutdown_closes_the_pool(settings, api):
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as client:
        assert (await client.get(f"{api}/health/ready")).status_code == 200
        pool = app.state.engine.pool
        assert pool.checkedin() >= 1
    assert pool.checkedin() == 0 and pool.checkedout() == 0  # disposed, nothing left open
