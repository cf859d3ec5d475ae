"""The list queries are answered from indexes: their plans never scan the
whole bookings table, on PostgreSQL (EXPLAIN) and SQLite (EXPLAIN QUERY PLAN)."""

from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

from {{ cookiecutter.project_slug }}.bookings import (
    BOOKING_SORTS,
    BOOKINGS,
    BookingSort,
    summary_select,
)
from {{ cookiecutter.project_slug }}.models import Booking, BookingStatus
from {{ cookiecutter.project_slug }}.pagination import page_select
from {{ cookiecutter.project_slug }}.seed import seed

pytestmark = pytest.mark.anyio


class Explain(Executable, ClauseElement):
    """EXPLAIN of a statement, with its parameters bound as the app binds them."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


async def plan(conn, statement) -> str:
    rows = (await conn.execute(Explain(statement))).all()
    return "\n".join(str(row[-1]) for row in rows)


def scans_bookings(plan_text: str, dialect: str) -> bool:
    if dialect == "postgresql":
        return "Seq Scan on bookings" in plan_text
    # SQLite: "SCAN bookings" without an index is a full scan.
    return any(
        line.strip().startswith("SCAN bookings") and "INDEX" not in line
        for line in plan_text.splitlines()
    )


@pytest.fixture
async def seeded(app):
    await seed(app.state.engine, users=200, bookings=20_000, venues=20)
    async with app.state.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
        user_id = await conn.scalar(select(func.min(Booking.user_id)))
        middle = (
            await conn.execute(
                select(BOOKINGS.c.start_datetime, BOOKINGS.c.id)
                .where(BOOKINGS.c.user_id == user_id)
                .order_by(BOOKINGS.c.start_datetime.desc(), BOOKINGS.c.id.desc())
                .offset(50)
                .limit(1)
            )
        ).one()
    return app, user_id, list(middle)


async def test_list_queries_use_indexes(seeded):
    app, user_id, cursor_values = seeded
    newest = BOOKING_SORTS[BookingSort.newest_first]
    oldest = BOOKING_SORTS[BookingSort.oldest_first]
    mine = summary_select(None, user_id=user_id)
    queries = {
        "own list": page_select(mine, newest, limit=51),
        "own list, oldest first": page_select(mine, oldest, limit=51),
        "own list by status": page_select(
            summary_select(BookingStatus.confirmed, user_id=user_id), newest, limit=51
        ),
        "own keyset page": page_select(mine, newest, limit=51, after=cursor_values),
        "own count": mine.with_only_columns(func.count(), maintain_column_froms=True),
        "admin list": page_select(summary_select(), newest, limit=51),
        "admin keyset page": page_select(summary_select(), newest, limit=51, after=cursor_values),
        "admin by user": page_select(summary_select(None, user_id=user_id), newest, limit=51),
    }
    async with app.state.engine.connect() as conn:
        dialect = conn.dialect.name
        plans = {name: await plan(conn, query) for name, query in queries.items()}
    scanning = {name: text for name, text in plans.items() if scans_bookings(text, dialect)}
    assert scanning == {}
    assert all("ix_bookings" in text for name, text in plans.items()), plans
