"""Security boundaries: owners, administrators, tokens, what errors reveal,
CORS, served files, and parameters that try to reach the SQL."""

import hmac
import re

import httpx
import pytest
from sqlalchemy import func, select, text

from {{ cookiecutter.project_slug }} import auth
from {{ cookiecutter.project_slug }}.db import SessionDep
from {{ cookiecutter.project_slug }}.models import User

from tests.conftest import client_for
from tests.helpers import OPS, OPS_TOKEN, assert_error, create_upload

pytestmark = pytest.mark.anyio


async def test_uploads_hold_only_the_owners_rows(client, api, alice, bob):
    upload = await client.post(
        f"{api}/uploads",
        content=b"alice's file",
        headers={**alice, "Content-Type": "text/plain", "X-Filename": "a.txt"},
    )
    assert upload.status_code == 201
    url = f"{api}/uploads/{upload.json()['id']}"
    uploads = await client.get(f"{api}/uploads", headers=bob)
    assert uploads.json()["items"] == []
    for method, path in (("GET", url), ("GET", f"{url}/content"), ("DELETE", url)):
        assert_error(await client.request(method, path, headers=bob), 404, "not_found")
    assert (await client.get(f"{url}/content", headers=alice)).content == b"alice's file"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/users"),
        ("PATCH", "/admin/users/1"),
    ],
)
async def test_admin_routes_are_403_for_users(client, api, alice, method, path):
    response = await client.request(method, f"{api}{path}", headers=alice, json={"name": "x"})
    assert_error(response, 403, "forbidden")


async def test_tokens_are_random_long_and_compared_in_constant_time(
    client, api, alice, monkeypatch
):
    tokens = {auth.new_token() for _ in range(1000)}
    assert len(tokens) == 1000 and min(len(t) for t in tokens) >= 43  # 32 random bytes
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert (await client.get(f"{api}/users/me", headers=alice)).status_code == 200
    assert len(compared) == 1


async def broken_query(session: SessionDep) -> dict[str, str]:
    # A syntax error: a missing table would say the schema is behind (503).
    await session.execute(text("SELECT secret_column FROM no_such_table WHERE"))
    return {}


async def test_unexpected_errors_reveal_no_trace_and_no_sql(app, api):
    app.router.add_api_route(f"{api}/broken", broken_query)
    # raise_app_exceptions=False: answer as a server would, not re-raise in the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(f"{api}/broken")
    assert_error(response, 500, "error")
    for leak in ("Traceback", "SELECT", "no_such_table", "secret_column", "sqlalchemy", ".py"):
        assert leak not in response.text


@pytest.mark.parametrize(
    "query",
    [
        "page=1 OR 1=1",
        "page=1;DELETE FROM users",
        "with_total=true' OR '1'='1",
        "cursor=' OR 1=1 --",
        "cursor=W10.' UNION SELECT password_hash FROM users --",
        "page_size=10;DROP TABLE users",
    ],
)
async def test_parameters_never_reach_the_sql(client, api, admin, app, query):
    response = await client.get(f"{api}/admin/users?{query}", headers=admin)
    assert response.status_code in (400, 422), response.text
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1


async def test_text_is_stored_as_text(client, api, alice):
    name = "'); DROP TABLE uploads; --"
    created = await create_upload(client, api, alice, name=name)
    read = await client.get(f"{api}/uploads/{created['id']}", headers=alice)
    assert read.json()["filename"] == name


async def test_no_cross_origin_access_unless_configured(app_with, api):
    preflight = {
        "Origin": "https://app.example.org",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization",
    }
    async with app_with() as app, client_for(app) as client:
        default = await client.options(f"{api}/uploads", headers=preflight)
    configured = ["https://app.example.org"]
    async with app_with(cors_origins=configured) as app, client_for(app) as client:
        allowed = await client.options(f"{api}/uploads", headers=preflight)
        other = await client.options(
            f"{api}/uploads", headers={**preflight, "Origin": "https://evil.example"}
        )
    assert "access-control-allow-origin" not in default.headers
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.org"
    assert "access-control-allow-origin" not in other.headers


async def test_served_files_are_attachments(client, api, alice):
    # nosniff comes from the server, once, on every response (test_server.py).
    for name in ("page.html", "notes.txt"):
        created = await create_upload(client, api, alice, name=name, content=b"<script></script>")
        response = await client.get(f"{api}/uploads/{created['id']}/content", headers=alice)
        assert response.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize("path", ["/health/memory", "/health/memory/history"])
async def test_memory_data_needs_an_administrator_or_the_metrics_token(
    client, api, alice, admin, path
):
    url = f"{api}{path}"
    assert_error(await client.get(url), 401, "unauthorized")
    assert_error(await client.get(url, headers=alice), 403, "forbidden")
    assert (await client.get(url, headers=admin)).status_code == 200
    assert (await client.get(url, headers=OPS)).status_code == 200
    almost = {"Authorization": f"Bearer {OPS_TOKEN}x"}
    assert_error(await client.get(url, headers=almost), 401, "unauthorized")
    # Probes stay open: an orchestrator has no token.
    for probe in ("/health", "/health/ready"):
        assert (await client.get(f"{api}{probe}")).status_code == 200


async def test_docs_are_served_by_the_service_itself(client, api):
    page = (await client.get(f"{api}/docs")).text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(sources) == 3 and all(src.startswith(f"{api}/docs/assets/") for src in sources)
    for source in sources:
        assert (await client.get(source)).status_code == 200
        head = await client.head(source)
        assert head.status_code == 200 and head.content == b""
    assert_error(await client.get(f"{api}/docs/assets/missing.js"), 404, "not_found")
    # In development the root points to the docs.
    root = await client.get("/")
    assert root.status_code == 307 and root.headers["location"] == f"{api}/docs"


@pytest.mark.parametrize("path", ["/health/dashboard", "/docs"])
async def test_html_pages_carry_a_content_security_policy(client, api, path):
    response = await client.get(f"{api}{path}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'sha256-" in policy["script-src"]  # the page's own script, by hash
