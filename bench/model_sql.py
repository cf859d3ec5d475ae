"""The bookings queries the floors run, derived from the service's own model,
and the connections they run them through.

The floors (floor_app.py, stack_floor_app.py, programs/copy_rates.py) must do
the service's work and no other: a column added to the summary or the export
changes their queries with it, so a changed model never compares unequal work
silently; and they read through as many connections as the service reads
through. Each floor imports this with the service's package installed and
builds its query once, at start-up; what it runs per request is unchanged.
"""

import importlib
import os
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    MetaData,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg

_DIALECT = postgresql_asyncpg.dialect()


def _admin(package: str) -> Any:
    return importlib.import_module(f"{package}.routers.admin_bookings")


def _newest_first(package: str, stmt: Select) -> Select:
    admin = _admin(package)
    return stmt.order_by(*admin.BOOKING_SORTS[admin.BookingSort.newest_first].order_by())


def _plain(stmt: Select) -> Select:
    """`stmt`'s columns over their database types alone: a TypeDecorator's
    Python-side processing is the service's own work, not the stack's."""
    columns = stmt.selected_columns
    table = Table(
        columns[0].table.name,
        MetaData(),
        *(Column(c.name, getattr(c.type, "impl", c.type)) for c in columns),
    )
    return select(*(table.c[c.name] for c in columns))


def page_select(package: str) -> Select:
    """The administrators' list, newest first (the page: limit and offset)."""
    return _newest_first(package, _plain(_admin(package).SUMMARY_SELECT))


def page_sql(package: str) -> str:
    """One page of page_select as asyncpg's SQL: $1 the limit, $2 the offset."""
    stmt = page_select(package).limit(bindparam("limit")).offset(bindparam("offset"))
    compiled = stmt.compile(dialect=_DIALECT)
    assert compiled.positiontup == ["limit", "offset"], compiled.positiontup
    return str(compiled)


def export_sql(package: str, *, timestamps_as_text: bool = False) -> str:
    """Every column the export writes, every row, in the export's order.

    timestamps_as_text: each timestamp through one string function (the
    API's "T"), the least any reformatting of them costs."""
    columns = list(_admin(package).EXPORT_SELECT.selected_columns)
    if timestamps_as_text:
        columns = [_as_text(column) if _is_timestamp(column) else column for column in columns]
    return str(_newest_first(package, select(*columns)).compile(dialect=_DIALECT))


def _as_text(column: Column[Any]) -> Any:
    # Literals, not bound values: COPY takes no parameters.
    space, t = literal_column("' '"), literal_column("'T'")
    return func.replace(cast(column, Text), space, t).label(column.name)


def _is_timestamp(column: Column[Any]) -> bool:
    try:
        return column.type.python_type is datetime
    except NotImplementedError:
        return False


def read_connections(package: str) -> int:
    """How many connections the service reads through: its DB_POOL_SIZE (the
    environment's, else its settings' default; reads.py never reads through
    the overflow). A floor with more overlaps more database round trips than
    the service may: 6 against the default 3 answered the list of 10 about
    9% faster, a larger pool measured rather than a leaner stack."""
    if "DB_POOL_SIZE" in os.environ:
        return int(os.environ["DB_POOL_SIZE"])
    settings = importlib.import_module(f"{package}.settings")
    return int(settings.Settings.model_fields["db_pool_size"].default)
