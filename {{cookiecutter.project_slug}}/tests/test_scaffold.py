"""new-resource: what it writes, and what it refuses without writing anything.

It runs on a copy of this project, so the project itself is never changed.
The template's own tests go further: they add two resources to a fresh
project, lint it, migrate it and run the new tests on SQLite and PostgreSQL.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from {{ cookiecutter.project_slug }}.scaffold import (
    ScaffoldError,
    find_project,
    new_resource,
    parse_resource,
)
from {{ cookiecutter.project_slug }}.scaffold.spec import (
    FIELD_TYPES,
    pluralize,
    snake_case,
)

from tests.helpers import copy_project

PACKAGE = "{{ cookiecutter.project_slug }}"
# <date>-<random id>_create_<plural>.py, as alembic.ini's file_template.
MIGRATION_NAME = re.compile(r"\d{4}_\d{2}_\d{2}_\d{4}-(?P<revision>[0-9a-f]{12})_create_\w+\.py")
# Names no project is likely to have: these tests pass after you add your own.
NAME, OTHER = "ProbeRoomType", "ProbeDesk"


def _head(root: Path) -> str:
    (head,) = ScriptDirectory(str(root / "src" / PACKAGE / "migrations")).get_heads()
    return head


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


def _tree(root: Path) -> dict[str, str]:
    """Every file's digest, bytecode aside: Python writes it on import (the
    migrations are imported to find the head), new-resource does not."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def _written(copy: Path, owned: bool) -> tuple[list[Path], Path]:
    """The files a resource writes (routing.py last), and its migration."""
    before, head = _tree(copy), _head(copy)
    spec = parse_resource(NAME, ["name:str", "seats:int?"], owned=owned)
    written = new_resource(find_project(copy, PACKAGE), spec)
    (migration,) = [path for path in written if MIGRATION_NAME.fullmatch(path.name)]
    after = _tree(copy)
    changed = {name for name in after if before.get(name) != after[name]}
    assert changed == {str(path.relative_to(copy)) for path in written}
    assert f'down_revision: str | None = "{head}"' in migration.read_text()
    for path in written:
        compile(path.read_text(), str(path), "exec")  # valid Python
    return written, migration


def test_a_resource_is_four_files_and_one_registry_line(copy):
    written, migration = _written(copy, owned=False)
    assert [path.relative_to(copy) for path in written] == [
        Path("src", PACKAGE, "resources", "probe_room_types.py"),
        Path("src", PACKAGE, "routers", "probe_room_types.py"),
        Path("src", PACKAGE, "migrations", "versions", migration.name),
        Path("tests", "test_probe_room_types.py"),
        Path("src", PACKAGE, "routing.py"),
    ]
    routing = (copy / "src" / PACKAGE / "routing.py").read_text()
    assert routing.count('LazyRouter("/probe-room-types", ".routers.probe_room_types"),') == 1
    assert "/admin/probe-room-types" not in routing
    assert migration.read_text().count("op.create_index(") == 1
    assert '["created_at", "id"]' in migration.read_text()


def test_an_owned_resource_adds_the_administrators_router(copy):
    """Five files and two registry lines: the owner's router, and every user's
    rows for administrators, whose list needs an index of its own."""
    written, migration = _written(copy, owned=True)
    assert [path.relative_to(copy) for path in written] == [
        Path("src", PACKAGE, "resources", "probe_room_types.py"),
        Path("src", PACKAGE, "routers", "probe_room_types.py"),
        Path("src", PACKAGE, "routers", "admin_probe_room_types.py"),
        Path("src", PACKAGE, "migrations", "versions", migration.name),
        Path("tests", "test_probe_room_types.py"),
        Path("src", PACKAGE, "routing.py"),
    ]
    routing = (copy / "src" / PACKAGE / "routing.py").read_text()
    lines = [
        '    LazyRouter("/probe-room-types", ".routers.probe_room_types"),\n',
        '    LazyRouter("/admin/probe-room-types", ".routers.admin_probe_room_types"),\n',
    ]
    assert routing.count("".join(lines)) == 1
    assert 'prefix="/admin/probe-room-types"' in written[2].read_text()
    text = migration.read_text()
    assert text.count("op.create_index(") == 2
    assert '["user_id", "created_at", "id"]' in text and '["created_at", "id"]' in text
    table = written[0].read_text()
    for name in ("ix_probe_room_types_user_id_created_at_id", "ix_probe_room_types_created_at_id"):
        assert f'Index("{name}"' in table and f'"{name}"' in text


@pytest.mark.parametrize("owned", [False, True])
def test_every_field_type_gives_clean_code(copy, owned):
    fields = [f"{kind}_field:{kind}{'?' if n % 2 else ''}" for n, kind in enumerate(FIELD_TYPES)]
    fields += ["state:enum[draft,sent]", "size_class:enum[s,m,xl]?"]
    written = new_resource(find_project(copy, PACKAGE), parse_resource(NAME, fields, owned=owned))
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    ruff = shutil.which("ruff", path=search)
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the dev extra)")
    for command in (["check"], ["format", "--check"]):
        arguments = [ruff, *command, "--no-cache", *map(str, written)]
        result = subprocess.run(arguments, cwd=copy, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_an_enum_field_is_checked_filtered_and_indexed(copy):
    spec = parse_resource(NAME, ["name:str", "state:enum[draft,sent,paid]"], owned=True)
    table, router, _admin, migration, tests, _ = new_resource(find_project(copy, PACKAGE), spec)
    text = table.read_text()
    assert 'class ProbeRoomTypeState(StrEnum):\n    draft = "draft"' in text
    values = "\"state IN ('draft', 'sent', 'paid')\""
    check = f'CheckConstraint({values}, name="ck_probe_room_types_state")'
    assert check in text and f"sa.{check}" in migration.read_text()
    assert "state: ProbeRoomTypeState | None = None" in text  # the lists' filter
    for name in ("state", "user_id_state"):
        index = f"ix_probe_room_types_{name}_created_at_id"
        assert f'"{index}"' in text and f'"{index}"' in migration.read_text()
    assert "matching(_MINE, ProbeRoomType, filters)" in router.read_text()
    assert 'FILTERS: dict[str, str] = {"state": "draft"}' in tests.read_text()


def test_without_ruff_the_files_are_written_and_a_note_says_so(copy, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    written = new_resource(
        find_project(copy, PACKAGE), parse_resource(NAME, ["a:int"], owned=False)
    )
    assert all(path.exists() for path in written)
    assert "ruff is not installed" in capsys.readouterr().err


def _revision(migration: Path) -> str:
    match = MIGRATION_NAME.fullmatch(migration.name)
    assert match, migration.name
    return match["revision"]


def test_migrations_follow_on_from_each_other(copy):
    project = find_project(copy, PACKAGE)
    first = new_resource(project, parse_resource(NAME, ["name:str"], owned=False))[2]
    second = new_resource(project, parse_resource(OTHER, ["label:str"], owned=False))[2]
    assert second.name.endswith("_create_probe_desks.py")
    assert f'down_revision: str | None = "{_revision(first)}"' in second.read_text()
    assert _head(copy) == _revision(second)


def test_two_branches_never_write_the_same_revision(copy, tmp_path):
    """Two branches each add a resource from the same head: different ids,
    both after that head; merged, alembic sees two heads to join (merge heads)."""
    other = tmp_path / "other-branch"
    shutil.copytree(copy, other)
    head = _head(copy)
    ours_spec = parse_resource(NAME, ["name:str"], owned=False)
    theirs_spec = parse_resource(OTHER, ["label:str"], owned=False)
    ours = new_resource(find_project(copy, PACKAGE), ours_spec)[2]
    theirs = new_resource(find_project(other, PACKAGE), theirs_spec)[2]
    assert _revision(ours) != _revision(theirs)
    for migration in (ours, theirs):
        assert f'down_revision: str | None = "{head}"' in migration.read_text()
    shutil.copy(theirs, ours.parent)
    heads = ScriptDirectory(str(ours.parent.parent)).get_heads()
    assert sorted(heads) == sorted([_revision(ours), _revision(theirs)])


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("room", ["name:str"], "is not a class name"),
        ("2Rooms", ["name:str"], "is not a class name"),
        ("Room-Type", ["name:str"], "is not a class name"),
        ("None", ["name:str"], "Python keyword"),
        ("Import", ["name:str"], "'import', which is a Python keyword"),
        ("Match", ["name:str"], "'match', which is a Python keyword"),
        ("Dict", ["name:str"], "Python built-in"),
        ("Page", ["name:str"], "shadow a name"),
        ("Session", ["name:str"], "used by the generated router"),
        ("Room", [], "at least one --field"),
        ("Room", ["name"], "must be NAME:TYPE"),
        ("Room", ["name:string"], "unknown type 'string'"),
        ("Room", ["Name:str"], "lowercase letters"),
        ("Room", ["class:str"], "Python keyword"),
        ("Room", ["id:int"], "reserved"),
        ("Room", ["model_config:str"], "reserved"),
        ("Room", ["name:str", "name:text"], "given twice"),
        ("Room", ["state:enum[draft]"], "two values or more"),
        ("Room", ["state:enum[]"], "two values or more"),
        ("Room", ["state:enum[draft,Sent]"], "the value 'Sent' must be lowercase"),
        ("Room", ["state:enum[draft,class]"], "not a Python keyword"),
        ("Room", ["state:enum[a,b,a]"], "given twice"),
        ("Room", ["state:enum[a,b"], "unknown type 'enum\\[a,b'"),
        ("Room", ["sort:enum[a,b]"], "RoomSort, a class the resource module defines"),
    ],
)
def test_bad_requests_are_refused_by_name(name, fields, message):
    with pytest.raises(ScaffoldError, match=message):
        parse_resource(name, fields, owned=False)


@pytest.mark.parametrize(
    ("name", "plural", "message"),
    [
        ("User", None, "already exists"),  # registered, and its table exists
        ("Upload", None, "already exists"),
        ("Token", None, "already exists"),  # a table without a router
        ("Place", "uploads", "table named 'uploads' already exists"),
    ],
)
def test_existing_resources_are_refused_and_nothing_is_written(copy, name, plural, message):
    before = _tree(copy)
    spec = parse_resource(name, ["label:str"], owned=False, plural=plural)
    with pytest.raises(ScaffoldError, match=message):
        new_resource(find_project(copy, PACKAGE), spec)
    assert _tree(copy) == before


def test_adding_the_same_resource_twice_is_refused(copy):
    project = find_project(copy, PACKAGE)
    new_resource(project, parse_resource(NAME, ["name:str"], owned=False))
    before = _tree(copy)
    with pytest.raises(ScaffoldError, match="already exists"):
        new_resource(project, parse_resource(NAME, ["name:str"], owned=True))
    assert _tree(copy) == before


def test_an_existing_administrators_router_refuses_the_owned_resource(copy):
    """Any one of the files existing is enough: none of the others is written,
    and neither registry line."""
    admin_router = copy / "src" / PACKAGE / "routers" / "admin_probe_room_types.py"
    admin_router.write_text('"""Written by hand."""\n')
    before = _tree(copy)
    with pytest.raises(ScaffoldError, match=r"admin_probe_room_types\.py already exists"):
        new_resource(find_project(copy, PACKAGE), parse_resource(NAME, ["a:int"], owned=True))
    assert _tree(copy) == before


def test_a_registered_administrators_prefix_refuses_the_owned_resource(copy):
    routing = copy / "src" / PACKAGE / "routing.py"
    line = '    LazyRouter("/admin/users", ".routers.admin_users"),\n'
    extra = '    LazyRouter("/admin/probe-room-types", ".routers.by_hand"),\n'
    routing.write_text(routing.read_text().replace(line, line + extra))
    before = _tree(copy)
    with pytest.raises(ScaffoldError, match="/admin/probe-room-types already exists"):
        new_resource(find_project(copy, PACKAGE), parse_resource(NAME, ["a:int"], owned=True))
    assert _tree(copy) == before


def test_a_project_without_its_registry_list_is_refused(copy):
    routing = copy / "src" / PACKAGE / "routing.py"
    routing.write_text(routing.read_text().replace("RESOURCE_ROUTERS: list[LazyRouter]", "R"))
    before = _tree(copy)
    with pytest.raises(ScaffoldError, match="cannot find `RESOURCE_ROUTERS"):
        new_resource(find_project(copy, PACKAGE), parse_resource(NAME, ["a:int"], owned=False))
    assert _tree(copy) == before


def test_another_directory_is_refused(tmp_path):
    with pytest.raises(ScaffoldError, match="not the project's directory"):
        find_project(tmp_path, PACKAGE)


def test_the_command_prints_a_clear_error_and_exits_1(copy):
    before = _tree(copy)
    command = [sys.executable, "-m", PACKAGE, "new-resource", "class", "--field", "a:int"]
    result = subprocess.run(command, cwd=copy, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: resource name 'class' is not a class name")
    assert "Traceback" not in result.stderr
    assert _tree(copy) == before


@pytest.mark.parametrize(
    ("word", "plural"),
    [("room", "rooms"), ("category", "categories"), ("day", "days"), ("box", "boxes")],
)
def test_plurals(word, plural):
    assert pluralize(word) == plural


def test_snake_case():
    assert [snake_case(name) for name in ("Room", "RoomType", "HTTPLog", "Room2")] == [
        "room",
        "room_type",
        "http_log",
        "room2",
    ]
