"""What every resource router shares: ids in paths, list columns, ownership, updates.

With pagination.py (pages) and export.py (streamed files) this is all a
resource router needs, so each route stays a few lines (routers/uploads.py,
and every router `new-resource` writes). Reads go through reads.Reader and
answer RowsJSONResponse; writes use the ORM session.
"""

import functools
from typing import Annotated, Any, TypeVar

from fastapi import Path
from pydantic import BaseModel
from sqlalchemy import Column, ColumnElement, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from .auth import Principal
from .errors import ServiceError
from .models import table_of, utcnow
from .reads import Reader
from .schema_types import MAX_ID
from .statements import AnySelect

Row = TypeVar("Row", bound=SQLModel)
Schema = TypeVar("Schema", bound=BaseModel)

# Ids are INTEGER columns: a larger one cannot exist, and is a 422 here
# instead of an out-of-range error from the database.
ResourceId = Annotated[int, Path(ge=1, le=MAX_ID)]


def table_column(column: Any) -> Column[Any]:
    """The table's own Column behind a model attribute (`Booking.id`).

    Reads are built from these: a statement of model attributes goes through
    the ORM's compile step and its result re-maps every column per request,
    which measured 15% of a list page's statement."""
    prop = getattr(column, "property", None)
    found: Column[Any] = prop.columns[0] if prop is not None else column
    return found


def columns_of(table: type[SQLModel], schema: type[BaseModel]) -> list[ColumnElement[Any]]:
    """The table's columns that `schema` shows: lists select these, never whole
    rows, so a page holds no column the response drops."""
    return [table_of(table).c[name] for name in schema.model_fields]


# The bound parameter of owned_by: the user whose rows a statement reads.
OWNER = "owner_id"


# Cached by the statement it derives from, like reads.py's derived statements.
@functools.lru_cache(maxsize=256)
def owned_by(stmt: AnySelect, table: type[SQLModel]) -> AnySelect:
    """Only one user's rows (`table.user_id`), administrators included:
    lists of one's own rows are lists of one's own rows for everybody. The
    user is bound at execution: `owner_values(user)`."""
    return stmt.where(table_of(table).c.user_id == bindparam(OWNER))


def owner_values(owner: Principal | None) -> dict[str, Any]:
    """The bound value of owned_by's statements (none without an owner)."""
    return {} if owner is None else {OWNER: owner.id}


def matching(
    stmt: AnySelect, table: type[SQLModel], filters: BaseModel
) -> tuple[AnySelect, dict[str, Any]]:
    """`stmt` with the rows whose column equals each filter given (a field of
    `filters` not None), and the values to bind: the statement is built once
    per set of filters, as reads.py's are."""
    given = {name: value for name, value in filters if value is not None}
    return _equal(stmt, table, tuple(given)), given


@functools.lru_cache(maxsize=256)
def _equal(stmt: AnySelect, table: type[SQLModel], names: tuple[str, ...]) -> AnySelect:
    columns = table_of(table).c
    return stmt.where(*(columns[name] == bindparam(name) for name in names)) if names else stmt


def readable_by(stmt: AnySelect, table: type[SQLModel], owner: Principal | None) -> AnySelect:
    """`stmt` limited to the rows `owner` may read by id: their own, or any for
    an administrator (None: a table without owners). Bind `owner_values(owner)`."""
    if owner is None or owner.is_admin:
        return stmt
    return owned_by(stmt, table)


def not_found(table: type[SQLModel], row_id: Any) -> ServiceError:
    return ServiceError(404, f"{table.__name__} {row_id} not found")


async def get_or_404(
    session: AsyncSession, table: type[Row], row_id: Any, owner: Principal | None = None
) -> Row:
    """The row with this primary key, for a write, else 404.

    With `owner`, a row of another user is a 404 as well (not a 403, so ids
    do not tell anyone what exists), unless `owner` is an administrator.
    """
    row = await session.get(table, row_id)
    owned: Any = row  # with an owner, a table with a user_id column
    if row is None or (owner is not None and owned.user_id != owner.id and not owner.is_admin):
        raise not_found(table, row_id)
    return row


async def read_or_404(
    reader: Reader,
    table: type[SQLModel],
    columns: list[ColumnElement[Any]],
    row_id: Any,
    owner: Principal | None = None,
) -> dict[str, Any]:
    """`columns` of the row with this `id`, in one statement, else 404 (the
    same ownership rule as get_or_404, checked in the query itself)."""
    stmt = readable_by(_by_id(table, tuple(columns)), table, owner)
    row = await reader.first(stmt, {"row_id": row_id, **owner_values(owner)})
    if row is None:
        raise not_found(table, row_id)
    return row


@functools.lru_cache(maxsize=256)
def _by_id(table: type[SQLModel], columns: tuple[ColumnElement[Any], ...]) -> AnySelect:
    return select(*columns).where(table_of(table).c.id == bindparam("row_id"))


def apply_changes(row: SQLModel, changes: dict[str, Any]) -> None:
    """Set the fields a partial update sent, and `updated_at` if the table has it."""
    for name, value in changes.items():
        setattr(row, name, value)
    if "updated_at" in type(row).model_fields:
        stamped: Any = row  # a table with an updated_at column
        stamped.updated_at = utcnow()


def read_as(schema: type[Schema], row: SQLModel, **extra: Any) -> Schema:
    """A response schema from a row (plus fields the row does not hold)."""
    return schema.model_validate({**row.model_dump(), **extra})
