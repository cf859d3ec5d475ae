"""The command line, run as users run it: in a subprocess."""

import argparse
import json
import os
import socket
import subprocess
import sys

import httpx
import pytest
from sqlalchemy.engine import make_url

from {{ cookiecutter.project_slug }}.__main__ import _parser
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.process import budget

from tests.helpers import free_port

pytestmark = pytest.mark.anyio


def run(
    database_url: str, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.project_slug }}", *args],
        env={**os.environ, "DATABASE_URL": database_url, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = run(database_url, *args)
    assert result.returncode == 0, result.stderr
    return result


async def test_create_user_sets_a_password_from_stdin_never_from_argv(app, database_url, api):
    password = "read from stdin, not argv"
    result = run(database_url, "create-user", "pat@example.org", "--password", stdin=password)
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        form = {"username": "pat@example.org", "password": password}
        login = await client.post(f"{api}/auth/token", data=form)
    assert login.status_code == 200, login.text
    empty = run(database_url, "create-user", "quin@example.org", "--password", stdin="\n")
    assert empty.returncode == 1 and "empty password" in empty.stderr


async def test_set_password_gives_an_account_its_first_password(app, database_url, api):
    token = cli(database_url, "create-user", "sal@example.org").stdout.strip().splitlines()[-1]
    password = "set by an administrator"
    result = run(database_url, "set-password", "Sal@example.org", stdin=password)
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    unknown = run(database_url, "set-password", "nobody@example.org", stdin=password)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        form = {"username": "sal@example.org", "password": password}
        login = await client.post(f"{api}/auth/token", data=form)
        kept = await client.get(f"{api}/users/me", headers={"Authorization": f"Bearer {token}"})
    assert login.status_code == 200, login.text
    assert kept.status_code == 200  # its tokens keep working
    assert unknown.returncode == 1 and "no user with email nobody@example.org" in unknown.stderr


async def test_create_user_prints_a_working_token_last(app, database_url, api):
    result = cli(database_url, "create-user", "dana@example.org", "--admin")
    token = result.stdout.strip().splitlines()[-1]
    assert " " not in token and len(token) >= 43
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {"Authorization": f"Bearer {token}"}
        response = await client.get(f"{api}/admin/users", headers=headers)
    assert response.status_code == 200


async def test_revoke_token_stops_the_old_token_at_once(app, database_url, api):
    old = cli(database_url, "create-user", "rex@example.org").stdout.strip().splitlines()[-1]
    revoked = cli(database_url, "revoke-token", "Rex@example.org")
    assert "no longer works" in revoked.stdout and old not in revoked.stdout
    renewed = cli(database_url, "revoke-token", "rex@example.org", "--new")
    new = renewed.stdout.strip().splitlines()[-1]
    unknown = run(database_url, "revoke-token", "nobody@example.org")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with_old = await client.get(f"{api}/users/me", headers={"Authorization": f"Bearer {old}"})
        with_new = await client.get(f"{api}/users/me", headers={"Authorization": f"Bearer {new}"})
    assert with_old.status_code == 401 and with_new.status_code == 200
    assert unknown.returncode != 0 and "no user with email nobody@example.org" in unknown.stderr


async def test_create_user_refuses_a_duplicate_and_says_what_to_do(database_url, app):
    cli(database_url, "create-user", "erin@example.org")
    result = run(database_url, "create-user", "erin@example.org")
    assert result.returncode != 0
    assert "already exists" in result.stderr and "revoke-token" in result.stderr


async def test_create_user_is_safe_to_re_run_when_asked(app, database_url, api):
    args = ("create-user", "frank@example.org", "--new-token-if-exists")
    first = cli(database_url, *args).stdout.strip().splitlines()[-1]
    again = cli(database_url, *args).stdout.strip().splitlines()
    second = again[-1]
    assert second and second != first and "others still work" in again[0]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for token in (first, second):  # the token printed first keeps working
            headers = {"Authorization": f"Bearer {token}"}
            assert (await client.get(f"{api}/users/me", headers=headers)).status_code == 200


def test_a_database_without_tables_is_a_message_not_a_traceback(tmp_path):
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    result = run(empty, "create-user", "early@example.org")
    assert result.returncode == 1
    assert result.stderr.startswith("error: the database failed: no such table: users")
    assert "migrate" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_database_is_a_message_not_a_traceback():
    nowhere = f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none"
    result = run(nowhere, "create-user", "early@example.org")
    assert result.returncode == 1
    assert result.stderr.startswith("error: the database failed:"), result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_says_what_it_applied_and_is_idempotent(tmp_path):
    fresh = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    first = cli(fresh, "migrate").stdout
    assert first.startswith("applied ") and "0001, 0002, 0003" in first, first
    second = cli(fresh, "migrate").stdout
    assert "applied" not in second and "latest revision" in second


def test_database_errors_say_where_the_database_is_configured(tmp_path):
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    result = run(empty, "revoke-token", "early@example.org")
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr and ".env" in result.stderr


def test_migrate_to_a_database_that_does_not_exist_says_how_to_create_it(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite creates its file; see the test of a missing folder")
    url = make_url(database_url).set(database="not_made_yet", password="hunter2")
    result = run(url.render_as_string(hide_password=False), "migrate")
    assert result.returncode == 1
    create = f"createdb -h {url.host} -p {url.port or 5432} -U {url.username} not_made_yet"
    assert create in result.stderr, result.stderr
    assert "creates the tables" not in result.stderr and "hunter2" not in result.stderr


def test_migrate_into_a_missing_folder_names_the_folder(tmp_path):
    result = run(f"sqlite:///{tmp_path / 'absent' / 'app.db'}", "migrate")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"does not exist: mkdir -p {tmp_path / 'absent'}" in result.stderr


def test_serve_on_a_port_in_use_says_to_choose_another(database_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(database_url, "serve", "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert f"--port {port + 1}" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["serve", "check"])
def test_every_option_has_help_and_its_default(database_url, command):
    # As --help prints it: each option's own help, however it wraps, names its default.
    text = " ".join(cli(database_url, command, "--help").stdout.split())
    (commands,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    options = [
        action.option_strings[-1]
        for action in commands.choices[command]._actions
        if action.option_strings and action.dest != "help"
    ]
    for option, after in zip(options, [*options[1:], None], strict=True):
        own = text.split(f" {option} ")[-1]
        own = own.split(f" {after} ")[0] if after else own
        assert "default:" in own, own


def test_every_option_of_every_command_says_what_it_does_and_its_default():
    (commands,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in commands.choices.items():
        for action in command._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            if action.default not in (None, False, []):
                shown = isinstance(command.formatter_class, type) and issubclass(
                    command.formatter_class, argparse.ArgumentDefaultsHelpFormatter
                )
                assert shown or "default" in action.help, f"{name} {action.option_strings[0]}"


@pytest.mark.parametrize("args", [["check", "--replicas", "x"], ["create-user"], ["nope"]])
def test_bad_arguments_exit_with_usage(database_url, args):
    result = run(database_url, *args)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_openapi_writes_the_complete_schema_with_docs_switched_off(
    settings, database_url, tmp_path
):
    target = tmp_path / "openapi.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.project_slug }}",
            "openapi",
            "-o",
            str(target),
        ],
        env={**os.environ, "DATABASE_URL": database_url, "DOCS_ENABLED": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    paths = json.loads(target.read_text())["paths"]
    for path in ("/api/users/me", "/api/admin/users", "/api/auth/token", "/api/uploads"):
        assert path in paths
    # Every router's paths, as the app with its docs on serves them.
    assert set(paths) == set(create_app(settings).openapi()["paths"])
    assert list(tmp_path.iterdir()) == [target]


def test_openapi_to_an_unwritable_place_fails_cleanly(database_url, tmp_path):
    result = run(database_url, "openapi", "-o", str(tmp_path / "missing" / "openapi.json"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot write")
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_worker_count_below_one(database_url):
    result = run(database_url, "serve", "--workers", "0")
    assert result.returncode == 2
    assert "--workers: must be 1 or more" in result.stderr


def test_the_budget_line_is_exact():
    limits = budget.Limits(max_connections=100, reserved=3)
    at_the_line = budget.Plan(replicas=2, workers=4, pool_size=6, max_overflow=6)  # 96 + 1
    assert at_the_line.connections == limits.available == 97
    fits, report = budget.verdict(at_the_line, limits)
    assert fits and report.endswith("it fits, 0 to spare"), report
    over = budget.Plan(replicas=2, workers=4, pool_size=6, max_overflow=7)
    fits, report = budget.verdict(over, limits)
    assert not fits and "8 too many" in report and "PgBouncer" in report
    pooled = budget.Plan(replicas=20, workers=4, pool_size=6, max_overflow=7, pooler=96)
    assert pooled.clients == 1040 and pooled.connections == 97
    assert budget.verdict(pooled, limits)[0]
    assert not budget.verdict(budget.Plan(1, 1, 1, 0, pooler=97), limits)[0]


async def test_check_on_both_sides_of_the_database_limit(app, database_url):
    if app.state.engine.dialect.name != "postgresql":
        result = cli(database_url, "check", "--workers", "4")
        assert "SQLite has no connection limit" in result.stdout
        return
    available = (await budget.database_limits(app.state.engine)).available
    # One worker whose pool alone takes every connection but the migration's.
    fits = run(
        database_url,
        "check",
        "--workers",
        "1",
        DB_POOL_SIZE=str(available - 1),
        DB_MAX_OVERFLOW="0",
    )
    assert fits.returncode == 0, fits.stderr
    assert "it fits, 0 to spare" in fits.stdout
    over = run(
        database_url, "check", "--workers", "1", DB_POOL_SIZE=str(available), DB_MAX_OVERFLOW="0"
    )
    assert over.returncode == 1, over.stdout
    assert "1 too many" in over.stderr and "Traceback" not in over.stderr
    replicas = run(database_url, "check", "--replicas", "1000")
    assert replicas.returncode == 1 and "1000 replica(s)" in replicas.stderr
    # Behind PgBouncer the database sees PgBouncer's server connections only.
    pooled = run(database_url, "check", "--replicas", "1000", "--pgbouncer-connections", "20")
    assert pooled.returncode == 0, pooled.stderr
    assert "connections to PgBouncer, which opens at most 20" in pooled.stdout
