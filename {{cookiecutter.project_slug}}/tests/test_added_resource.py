"""The shared machinery on a resource made by `new-resource`.

This project has no example resources, so pagination (offset and cursor),
exports in every format, ownership and the administrators' list and export
are tested the way they will be used: a copy of the project gets an owned
resource from `new-resource`, is migrated, and runs the tests the command
wrote for it, on the database these tests use (SQLite, or a database of its
own beside TEST_DATABASE_URL), with those that read every route and
docstring (an index behind each list filter, no dangling names). The project
itself is never changed.
"""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.helpers import copy_project

PACKAGE = "{{ cookiecutter.project_slug }}"
RESOURCE = ["Note", "--field", "title:str", "--field", "body:text?", "--field", "pinned:bool"]
RESOURCE += ["--field", "status:enum[open,done]"]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


async def _recreate(url: str, name: str, *, create: bool) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if create:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


@pytest.fixture
def database_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """TEST_DATABASE_URL for the copy: a database of its own, as its
    migrations differ from this project's."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield {"TEST_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'added.db'}"}
        return
    base = make_url(url)
    name = f"{base.database}_added"
    asyncio.run(_recreate(url, name, create=True))
    try:
        yield {"TEST_DATABASE_URL": base.set(database=name).render_as_string(hide_password=False)}
    finally:
        asyncio.run(_recreate(url, name, create=False))


def _run(copy: Path, env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    # The copy's sources come first on the path, before the installed project.
    env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(copy / "src"), str(copy)])}
    return subprocess.run(
        [sys.executable, *arguments], cwd=copy, env=env, capture_output=True, text=True, timeout=600
    )


def test_an_owned_resource_added_by_new_resource_passes_its_tests(copy, database_env):
    added = _run(copy, database_env, "-m", PACKAGE, "new-resource", *RESOURCE, "--owned")
    assert added.returncode == 0, added.stderr
    assert (copy / "tests" / "test_notes.py").is_file()
    assert (copy / "src" / PACKAGE / "routers" / "admin_notes.py").is_file()
    tests: tuple[str, ...] = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_notes.py")
    tests += ("tests/test_list_filters.py", "tests/test_docstrings.py")
    suite = _run(copy, database_env, *tests)
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    assert " passed" in suite.stdout and "skipped" not in suite.stdout, suite.stdout[-2000:]
