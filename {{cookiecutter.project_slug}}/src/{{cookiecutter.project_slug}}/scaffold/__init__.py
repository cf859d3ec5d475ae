"""`new-resource`: add a resource to this project, the way the bookings are built.

    new-resource Room --field name:str --field capacity:int [--owned] [--plural rooms]

writes resources/<plural>.py, routers/<plural>.py, a migration and
tests/test_<plural>.py, and adds one line to RESOURCE_ROUTERS (routing.py);
--owned adds routers/admin_<plural>.py and a second line. Everything is checked
before anything is written: a refused request changes no file.

Why it is built this way: docs/design-notes.md, "scaffold/__init__.py".
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import render
from .spec import ResourceSpec, ScaffoldError, parse_resource

__all__ = ["ScaffoldError", "new_resource", "parse_resource"]

# The registry list in routing.py, up to its closing bracket.
_REGISTRY = re.compile(r"^RESOURCE_ROUTERS: list\[LazyRouter\] = \[\n(?:[ \t]+.*\n)*(?=\]$)", re.M)


@dataclass(frozen=True)
class Project:
    root: Path
    package: str

    @property
    def source(self) -> Path:
        return self.root / "src" / self.package

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))


def find_project(root: Path, package: str) -> Project:
    project = Project(root.resolve(), package)
    if (
        not (project.root / "pyproject.toml").is_file()
        or not (project.source / "routing.py").is_file()
    ):
        raise ScaffoldError(
            f"{project.root} is not the project's directory (it needs pyproject.toml and "
            f"src/{package}/routing.py): run the command there, or pass --project DIR"
        )
    return project


def new_resource(project: Project, spec: ResourceSpec) -> list[Path]:
    """Write the resource; returns the paths written (routing.py last)."""
    files = plan(project, spec)
    written = _write_all(files)
    if not _ruff(project, [path for path in written if path.name != "routing.py"]):
        print(
            "note: ruff is not installed (the dev extra), so the new files were not "
            "formatted: run `ruff check --fix` and `ruff format` on them",
            file=sys.stderr,
        )
    return written


def plan(project: Project, spec: ResourceSpec) -> dict[Path, str]:
    """Every file to write and its text, or ScaffoldError if anything is wrong."""
    resource = project.source / "resources" / f"{spec.plural}.py"
    routers = [project.source / "routers" / f"{module}.py" for _, module in spec.routers]
    tests = project.root / "tests" / f"test_{spec.plural}.py"
    _refuse_existing(project, spec, [resource, *routers, tests])
    routing = project.source / "routing.py"
    registry = _with_registry_lines(routing.read_text(encoding="utf-8"), spec)
    revision, down_revision = _next_revision(project)
    name = migration_file_name(revision, f"create_{spec.plural}")
    migration = project.source / "migrations" / "versions" / name
    files = {resource: render.resource_module(spec), routers[0]: render.router_module(spec)}
    if spec.owned:
        files[routers[1]] = render.admin_router_module(spec)
    return files | {
        migration: render.migration_module(spec, revision, down_revision),
        tests: render.tests_module(spec, project.package),
        routing: registry,
    }


def _refuse_existing(project: Project, spec: ResourceSpec, new_files: list[Path]) -> None:
    sources = {
        path: path.read_text(encoding="utf-8") for path in sorted(project.source.rglob("*.py"))
    }
    table = re.compile(rf"""(__tablename__\s*=|create_table\()\s*["']{spec.plural}["']""")
    cls = re.compile(rf"^class {spec.name}\b", re.M)
    for path, text in sources.items():
        where = project.relative(path)
        for prefix, _ in spec.routers:
            if f'LazyRouter("{prefix}"' in text:
                raise ScaffoldError(
                    f"resource {prefix} already exists: it is registered in {where}"
                )
        if table.search(text):
            raise ScaffoldError(
                f"a table named {spec.plural!r} already exists ({where}); "
                "choose another name, or another --plural"
            )
        if cls.search(text):
            raise ScaffoldError(f"a class named {spec.name} already exists ({where})")
    for path in new_files:
        if path.exists():
            raise ScaffoldError(f"{project.relative(path)} already exists")


def _with_registry_lines(routing: str, spec: ResourceSpec) -> str:
    """routing.py with one line per router at the end of RESOURCE_ROUTERS
    (written in one replace: both lines or neither)."""
    match = _REGISTRY.search(routing)
    if match is None:
        raise ScaffoldError(
            "cannot find `RESOURCE_ROUTERS: list[LazyRouter] = [` ... `]` in routing.py; "
            "restore that list (one LazyRouter per line) so new resources can be registered"
        )
    lines = "".join(
        f'    LazyRouter("{prefix}", ".routers.{module}"),\n' for prefix, module in spec.routers
    )
    return routing[: match.end()] + lines + routing[match.end() :]


def _next_revision(project: Project) -> tuple[str, str | None]:
    """(new revision id, the head it follows). The id is random, as alembic's
    own: two branches that each add a resource cannot pick the same one (they
    end with two heads, which `alembic merge heads` joins)."""
    from alembic.script import ScriptDirectory
    from alembic.util import rev_id

    heads = ScriptDirectory(str(project.source / "migrations")).get_heads()
    if len(heads) > 1:
        raise ScaffoldError(
            f"the migrations have several heads ({', '.join(sorted(heads))}): "
            "merge them first (alembic merge heads), then add the resource"
        )
    return rev_id(), heads[0] if heads else None


def migration_file_name(revision: str, slug: str) -> str:
    """The name alembic.ini's file_template gives: date and time first, so the
    files list in the order they were written."""
    return f"{datetime.now(UTC):%Y_%m_%d_%H%M}-{revision}_{slug}.py"


def _write_all(files: dict[Path, str]) -> list[Path]:
    """New files are created exclusively; the registry is replaced last, by
    rename. If anything fails, the files written so far are removed."""
    written: list[Path] = []
    try:
        for path, text in files.items():
            if path.exists():  # only routing.py: every other path was checked absent
                partial = path.with_name(path.name + ".partial")
                partial.write_text(text, encoding="utf-8")
                partial.replace(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("x", encoding="utf-8") as file:
                    file.write(text)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def _ruff(project: Project, paths: list[Path]) -> bool:
    """Bring the new files to the project's style; False if there is no ruff.

    The templates give clean code for ordinary names, but only a formatter
    knows where a long name must break a line, and the project's style is
    ruff's: so ruff has the last word rather than a copy of its rules here.
    """
    # The ruff beside this interpreter (a venv's) first, then PATH.
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    ruff = shutil.which("ruff", path=search)
    if ruff is None:
        return False
    names = [str(path) for path in paths]
    for command in ("check --fix-only", "format"):
        arguments = [ruff, *command.split(), "--quiet", "--no-cache", *names]
        subprocess.run(arguments, cwd=project.root, check=False)
    return True
