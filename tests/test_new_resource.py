"""A newcomer's path through the READMEs, on SQLite and on PostgreSQL:
generate a service, install it for development, add two resources with
`new-resource`, check the result is clean, migrate, run the new tests, then
serve it and page through and export both resources over HTTP (the owned
one as its owner, and every user's rows as an administrator). On SQLite the
project is generated without the example resources, as a team starting
its own service would."""

import csv
import io
import json
import shutil
from pathlib import Path

import httpx
import pytest

from harness.project import REPO, Project, bearer, create_venv, install
from tests.conftest import users_environment

ROOMS = ["Room", "--field", "name:str", "--field", "capacity:int"]
INVOICES = [
    "Invoice",
    *("--field", "amount:decimal", "--field", "paid:bool", "--field", "due:date?"),
    *("--field", "issued_at:datetime", "--field", "note:text?", "--owned"),
]
ROWS = 5


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request, cookies_session, tmp_path, fresh_database, postgres_server) -> Project:
    database = request.param
    example = "none" if database == "sqlite" else "bookings"
    context = {"database": database, "example_domain": example}
    result = cookies_session.bake(extra_context=context, template=str(REPO))
    assert result.exit_code == 0, result.exception
    path = tmp_path / "service"
    shutil.copytree(result.project_path, path)
    # The generated README's development install: a venv, the project editable.
    python = create_venv(path / ".venv")
    install(python, "-e", ".[dev]", cwd=path)
    env = {
        key: value
        for key, value in users_environment().items()
        if not key.startswith("TEST_DATABASE")
    }
    if database == "postgresql":
        url = fresh_database(python, "new_resource")
        env["TEST_DATABASE_URL"] = url
        if postgres_server[1]:
            env["TEST_DATABASE_ROOT_CERT"] = postgres_server[1]
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    env |= {"DATABASE_URL": url, "RATE_LIMIT_ENABLED": "false"}
    return Project(path=path, slug=result.context["project_slug"], python=python, env=env)


def _tree(project: Project) -> dict[str, bytes]:
    return {
        str(path.relative_to(project.path)): path.read_bytes()
        for part in ("src", "tests")
        for path in sorted((project.path / part).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_two_resources_added_migrated_paged_and_exported(project: Project):
    for arguments in (ROOMS, INVOICES):
        added = project.cli("new-resource", *arguments)
        assert "added" in added.stdout and "once restarted" in added.stdout
    # A resource that exists now, and a bad name, are refused with nothing written.
    before = _tree(project)
    again = project.cli("new-resource", *ROOMS, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr, again.stderr
    keyword = project.cli("new-resource", "Class", "--field", "a:int", check=False)
    assert keyword.returncode == 1 and "Python keyword" in keyword.stderr, keyword.stderr
    assert "Traceback" not in again.stderr + keyword.stderr
    assert _tree(project) == before

    # What the command wrote is clean, type-checks and is consistent.
    project.run(str(project.bin / "ruff"), "check", ".")
    project.run(str(project.bin / "ruff"), "format", "--check", ".")
    project.run(str(project.bin / "mypy"))
    assert not list(project.path.rglob("*.partial"))
    project.cli("migrate")

    # The new tests, and those the new migrations and files touch (the served
    # schema below shows the routers registered): the plans of every list
    # filter, and the names the new docstrings cite.
    tests = ["test_rooms", "test_invoices", "test_migrations", "test_scaffold"]
    tests += ["test_list_filters", "test_docstrings"]
    pytest_command = [str(project.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    result = project.run(*pytest_command, *(f"tests/{name}.py" for name in tests))
    assert " passed" in result.stdout and " failed" not in result.stdout, result.stdout[-3000:]

    _serve_and_use(project)
    _change_models_and_autogenerate(project)


def _change_models_and_autogenerate(project: Project) -> None:
    """A column added to a scaffolded table and one to the shared users table:
    Alembic writes exactly those, as clean code that upgrades and downgrades."""
    alembic = str(project.bin / "alembic")
    assert "No new upgrade operations" in project.run(alembic, "check").stdout
    source = project.path / "src" / project.slug
    _insert_after(
        source / "resources" / "rooms.py",
        "    capacity: int = Field(sa_column=Column(Integer, nullable=False))\n",
        "    floor: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))\n",
    )
    _insert_after(
        source / "models.py",
        "    is_active: bool = Field(default=True, nullable=False)\n",
        "    phone: str | None = Field(default=None, max_length=40)\n",
    )
    project.run(alembic, "revision", "--autogenerate", "-m", "room floor and user phone")
    (written,) = (source / "migrations" / "versions").glob("*_room_floor_and_user_phone.py")
    text = written.read_text()
    assert text.count("add_column") == 2 and text.count("drop_column") == 2, text
    assert 'sa.Column("phone", sa.String(length=40), nullable=True)' in text, text
    project.run(str(project.bin / "ruff"), "check", ".")
    project.run(str(project.bin / "ruff"), "format", "--check", ".")
    assert "applied 1 revision" in project.cli("migrate").stdout
    assert "No new upgrade operations" in project.run(alembic, "check").stdout
    project.run(alembic, "downgrade", "-1")
    assert project.run(alembic, "check", check=False).returncode != 0
    project.cli("migrate")


def _insert_after(path: Path, line: str, new_line: str) -> None:
    text = path.read_text()
    assert text.count(line) == 1, f"{line!r} in {path}"
    path.write_text(text.replace(line, line + new_line))


def _serve_and_use(project: Project) -> None:
    admin = bearer(project.token("admin@example.org", "--admin"))
    user = bearer(project.token("user@example.org"))
    other = bearer(project.token("other@example.org"))
    log = project.path.parent / "server.log"
    with (
        project.serve(log=log, health="/api/health/ready") as server,
        httpx.Client(base_url=server.url("/api"), timeout=30) as client,
    ):
        invoices = []  # ROWS of user's, and some of other's
        for number in range(ROWS):
            room = {"name": f"Room {number}", "capacity": 10 + number}
            _created(client.post("/rooms", json=room, headers=admin))
            invoice = {
                "amount": f"{number}.50",
                "paid": number % 2 == 0,
                "issued_at": f"2030-01-0{number + 1}T09:00:00Z",
            }
            for owner in [user, other] if number % 2 else [user]:
                invoices.append(_created(client.post("/invoices", json=invoice, headers=owner)))
        for url in ("/rooms", "/invoices"):
            assert len(_every_page(client, url, user)) == ROWS
            for fmt in ("ndjson", "json", "csv"):
                assert len(_export(client, url, user, fmt)) == ROWS
        # Invoices belong to their user: the administrator has none of them
        # in their own list, and every user's under /admin/invoices.
        assert _every_page(client, "/invoices", admin) == []
        everyone = sorted(row["id"] for row in invoices)
        newest_first = _every_page(client, "/admin/invoices", admin)
        assert sorted(newest_first) == everyone
        oldest_first = _every_page(client, "/admin/invoices", admin, sort="created_at")
        assert oldest_first == newest_first[::-1]
        user_id = invoices[0]["user_id"]
        mine = {row["id"] for row in invoices if row["user_id"] == user_id}
        assert len(mine) == ROWS < len(everyone)
        theirs = _every_page(client, "/admin/invoices", admin, user_id=user_id)
        assert theirs == [row_id for row_id in newest_first if row_id in mine]
        for fmt in ("ndjson", "json", "csv"):
            rows = _export(client, "/admin/invoices", admin, fmt)
            assert sorted(int(row["id"]) for row in rows) == everyone
        forbidden = client.get("/admin/invoices/export", headers=user)
        assert forbidden.status_code == 403, forbidden.text
        schema = client.get("/openapi.json").json()
        paths = {"/api/rooms", "/api/invoices/{invoice_id}", "/api/admin/invoices/export"}
        assert paths <= set(schema["paths"])
        # loadtest's mix holds what new-resource added, from the registry:
        # invoices written by every user, rooms by the administrator.
        load = project.cli(
            *("loadtest", server.url(), "--users", "3", "--rate", "0", "--requests", "600"),
            "--json",
        )
        figures = json.loads(load.stdout)["figures"]
        assert figures["failures"] == {} and figures["no_answer"] == 0, figures
        used = {"POST /invoices", "GET /invoices/{id}", "PATCH /invoices/{id}"}
        used |= {"DELETE /invoices/{id}", "GET /admin/invoices", "POST /rooms", "GET /rooms"}
        assert used <= set(figures["by_route"]), figures["by_route"]
    output = server.output()
    assert "Traceback" not in output, output


def _created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def _every_page(client: httpx.Client, url: str, headers: dict[str, str], **filters) -> list[int]:
    """Ids of every row, following next_cursor two rows at a time."""
    ids, params = [], {"page_size": 2, **filters}
    while True:
        page = client.get(url, params=params, headers=headers)
        assert page.status_code == 200, page.text
        ids += [row["id"] for row in page.json()["items"]]
        cursor = page.json()["pagination"]["next_cursor"]
        if cursor is None:
            assert len(ids) == len(set(ids))
            return ids
        params = {"page_size": 2, **filters, "cursor": cursor}


def _export(client: httpx.Client, url: str, headers: dict[str, str], fmt: str) -> list:
    response = client.get(f"{url}/export", params={"format": fmt}, headers=headers)
    assert response.status_code == 200, response.text
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(response.text)))
    if fmt == "json":
        return response.json()["items"]
    return [json.loads(line) for line in response.text.splitlines()]
