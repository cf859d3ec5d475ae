"""A database behind the code's migrations stops start-up with a message
naming `migrate` (process/schema.py), never a server answering 500."""

import asyncio
import os
import subprocess
import sys

import httpx
import pytest
from alembic.script import ScriptDirectory

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.migrations import alembic_config, downgrade, upgrade
from {{ cookiecutter.project_slug }}.process import schema

from tests.helpers import free_port
from tests.test_cli import run

pytestmark = pytest.mark.anyio
CLI = "{{ cookiecutter.__cli_name }}"


@pytest.fixture
def fresh_url(database_url, tmp_path):
    """An empty SQLite database, or the test database downgraded to nothing
    (migrated again after the test, for the tests that follow)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    downgrade(database_url, "base")
    try:
        yield database_url
    finally:
        upgrade(database_url)


def test_the_heads_are_alembics():
    known, heads = schema.code_revisions()
    script = ScriptDirectory.from_config(alembic_config())
    assert heads == set(script.get_heads())
    assert known == {revision.revision for revision in script.walk_revisions()}


def test_serve_refuses_a_database_not_migrated_and_says_what_to_run(fresh_url):
    result = run(fresh_url, "serve", "--port", str(free_port()))
    assert result.returncode == 1, result.stderr
    assert "not migrated" in result.stderr and f"`{CLI} migrate`" in result.stderr
    assert "Traceback" not in result.stderr
    upgrade(fresh_url, "0001")
    behind = run(fresh_url, "serve", "--port", str(free_port()))
    _, heads = schema.code_revisions()
    assert behind.returncode == 1
    assert f"at revision 0001, the code needs {', '.join(sorted(heads))}" in behind.stderr


async def test_a_worker_does_not_start_on_a_database_behind(fresh_url, settings):
    app = create_app(settings.model_copy(update={"database_url": fresh_url}))
    with pytest.raises(schema.SchemaBehindError, match="migrate"):
        async with app.router.lifespan_context(app):
            pass


async def test_readiness_checks_what_start_up_could_not(fresh_url, settings, api):
    """A worker that started while the database was out of reach checks its
    revision when readiness first reaches it: 503 until `migrate` has run."""
    app = create_app(settings.model_copy(update={"database_url": fresh_url}))
    await asyncio.to_thread(upgrade, fresh_url)
    async with app.router.lifespan_context(app):
        await asyncio.to_thread(downgrade, fresh_url, "0001")
        app.state.schema_checked = False  # as if the database had been down
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            behind = await client.get(f"{api}/health/ready")
            await asyncio.to_thread(upgrade, fresh_url)
            ready = await client.get(f"{api}/health/ready")
    assert behind.status_code == 503
    assert behind.json()["error"]["code"] == "database_not_migrated", behind.text
    assert f"`{CLI} migrate`" in behind.json()["error"]["message"]
    assert ready.status_code == 200 and app.state.schema_checked


async def test_a_request_on_a_database_behind_is_a_503_naming_migrate(fresh_url, settings, api):
    """Tables dropped under a running worker (a restore of an older dump):
    its requests say what to run, never a 500."""
    app = create_app(settings.model_copy(update={"database_url": fresh_url}))
    await asyncio.to_thread(upgrade, fresh_url)
    async with app.router.lifespan_context(app):
        await asyncio.to_thread(downgrade, fresh_url, "base")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            login = await client.post(
                f"{api}/auth/token", data={"username": "a@example.org", "password": "x" * 12}
            )
    assert login.status_code == 503, login.text
    assert login.json()["error"]["code"] == "database_not_migrated"
    assert f"`{CLI} migrate`" in login.json()["error"]["message"]


@pytest.mark.slow
def test_serve_starts_on_a_database_out_of_reach(tmp_path):
    """Readiness says 503 until it can be reached: serve does not refuse."""
    nowhere = f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none"
    env = {**os.environ, "DATABASE_URL": nowhere}
    command = [sys.executable, "-m", "{{ cookiecutter.project_slug }}", "serve"]
    with subprocess.Popen(
        [*command, "--port", str(free_port())],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        first = process.stderr.readline()
        process.terminate()
        process.wait(timeout=60)
    assert first.startswith("warning: the database cannot be reached"), first
