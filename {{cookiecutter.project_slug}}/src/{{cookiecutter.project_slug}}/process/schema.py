"""Is the database migrated? The revision it records against the code's heads.

Checked once when the service starts, so that a database `migrate` has not
brought up to date stops start-up with a message instead of answering 500 to
every query. The heads are read from the migration files with `ast`: alembic
itself would add 8 MiB (and mako) to every worker.
"""

import ast
import logging
from importlib.resources import files
from importlib.resources.abc import Traversable

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

PACKAGE = __name__.partition(".")[0]
CLI = PACKAGE.replace("_", "-")  # the console script pyproject.toml installs


class SchemaBehindError(Exception):
    """The database lacks revisions the code needs: `migrate` adds them."""


def code_revisions(versions: Traversable | None = None) -> tuple[set[str], set[str]]:
    """(every revision, the heads) of the migration files."""
    folder = versions or files(PACKAGE) / "migrations" / "versions"
    revisions: set[str] = set()
    parents: set[str] = set()
    for entry in folder.iterdir():
        if entry.name.endswith(".py") and not entry.name.startswith("_"):
            values = _assigned(entry.read_text(encoding="utf-8"))
            revisions.add(str(values["revision"]))
            down = values.get("down_revision")  # None, a revision, or several (a merge)
            if isinstance(down, str):
                parents.add(down)
            elif isinstance(down, tuple | list):
                parents.update(str(parent) for parent in down)
    return revisions, revisions - parents


def _assigned(source: str) -> dict[str, object]:
    """The module's top-level `name = literal` and `name: type = literal`."""
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = _literal(node.value)
    return found


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:  # not a literal: no revision field
        return None


async def database_revisions(engine: AsyncEngine) -> set[str]:
    """The revisions alembic_version records; none when it is missing."""
    async with engine.connect() as conn:
        if not await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
            return set()
        rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        return {row[0] for row in rows}


async def check_schema(engine: AsyncEngine) -> None:
    """SchemaBehindError if the database lacks a revision of the code's.

    A database ahead of the code (a revision the code does not know: a newer
    release migrated it) is served: its migrations keep older code working
    while instances are replaced."""
    known, heads = code_revisions()
    current = await database_revisions(engine)
    if current - known:
        logger.warning("the database is at %s, newer than this code", ", ".join(sorted(current)))
        return
    if current != heads:
        at = f"at revision {', '.join(sorted(current))}" if current else "not migrated (no tables)"
        raise SchemaBehindError(
            f"the database is {at}, the code needs {', '.join(sorted(heads))}: "
            f"run `{CLI} migrate` first"
        )


async def schema_checked(engine: AsyncEngine) -> bool:
    """At a worker's start: SchemaBehindError stops it; False when the
    database could not be asked (readiness asks again once it answers)."""
    try:
        await check_schema(engine)
    except SchemaBehindError:
        raise
    except Exception as exc:
        logger.warning("the database's revision is unknown: %s", type(exc).__name__)
        return False
    return True
