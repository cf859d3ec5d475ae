import httpx
import pytest

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.settings import load_settings

from tests.conftest import client_for
from tests.helpers import assert_error

pytestmark = pytest.mark.anyio


async def test_liveness(client, api):
    response = await client.get(f"{api}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_checks_the_database(client, api):
    response = await client.get(f"{api}/health/ready")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_readiness_fails_when_the_database_is_unreachable():
    # Nothing listens on port 1 of the loopback: every connection is refused.
    url = "postgresql+asyncpg://nobody:nothing@127.0.0.1:1/none"
    app = create_app(load_settings(database_url=url, db_pool_timeout=2, _env_file=None))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            live = await client.get(f"{app.state.settings.api_prefix}/health")
            ready = await client.get(f"{app.state.settings.api_prefix}/health/ready")
    assert live.status_code == 200
    assert_error(ready, 503, "service_unavailable")
    assert ready.headers["retry-after"]


async def test_unknown_path_and_wrong_method_are_json_errors(client, api):
    assert_error(await client.get(f"{api}/no-such-thing"), 404, "not_found")
    assert_error(await client.put(f"{api}/health"), 405, "method_not_allowed")


async def test_openapi_lists_every_route(client, api):
    response = await client.get(f"{api}/openapi.json")
    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert {
        f"{api}/auth/token",
        f"{api}/users/me",
        f"{api}/admin/users",
        f"{api}/admin/users/" + "{user_id}",
        f"{api}/uploads",
        f"{api}/uploads/" + "{upload_id}",
        f"{api}/uploads/" + "{upload_id}/content",
        f"{api}/health/ready",
    } <= paths


async def test_docs_can_be_switched_off(app_with, api):
    async with app_with(docs_enabled=False) as app, client_for(app) as client:
        assert (await client.get(f"{api}/openapi.json")).status_code == 404
        assert (await client.get(f"{api}/docs")).status_code == 404
