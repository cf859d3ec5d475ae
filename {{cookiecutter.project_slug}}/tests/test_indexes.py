"""The list queries are answered from indexes at scale: over 20,000 bookings,
their plans never scan the whole table, on PostgreSQL (EXPLAIN) and SQLite
(EXPLAIN QUERY PLAN), and a filtered page reads its filter's index. That every
filter of every list has an index is checked from the routes, in
test_list_filters.py."""

import pytest
from sqlalchemy import func, select, text

from {{ cookiecutter.project_slug }}.pagination import page_select
from {{ cookiecutter.project_slug }}.resources.bookings import (
    BOOKING_SORTS,
    BOOKINGS,
    MY_SUMMARIES,
    SUMMARY_SELECT,
    Booking,
    BookingSort,
    BookingStatus,
    filtered,
)
from {{ cookiecutter.project_slug }}.seed import seed

from tests.helpers import Explain

pytestmark = pytest.mark.anyio


async def plan(conn, statement, values) -> str:
    rows = (await conn.execute(Explain(statement), values)).all()
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
        venue_id = await conn.scalar(select(func.min(Booking.venue_id)))
        middle = (
            await conn.execute(
                select(BOOKINGS.c.start_datetime, BOOKINGS.c.id)
                .where(BOOKINGS.c.user_id == user_id)
                .order_by(BOOKINGS.c.start_datetime.desc(), BOOKINGS.c.id.desc())
                .offset(50)
                .limit(1)
            )
        ).one()
    return app, user_id, venue_id, list(middle)


async def test_list_queries_use_indexes(seeded):
    app, user_id, venue_id, cursor_values = seeded
    newest = BOOKING_SORTS[BookingSort.newest_first]
    oldest = BOOKING_SORTS[BookingSort.oldest_first]
    mine = {"owner_id": user_id}
    first = {"page_limit": 51, "page_offset": 0}
    after = {"page_limit": 51, **newest.after_values(cursor_values)}
    by_status = filtered(MY_SUMMARIES, ("status",))
    by_user = filtered(SUMMARY_SELECT, ("user_id",))
    by_venue = filtered(SUMMARY_SELECT, ("venue_id",))
    by_any_status = filtered(SUMMARY_SELECT, ("status",))
    confirmed = {"status": BookingStatus.confirmed}
    count = MY_SUMMARIES.with_only_columns(func.count(), maintain_column_froms=True)
    queries = {
        "own list": (page_select(MY_SUMMARIES, newest, False), mine | first),
        "own list, oldest first": (page_select(MY_SUMMARIES, oldest, False), mine | first),
        "own list by status": (page_select(by_status, newest, False), mine | first | confirmed),
        "own keyset page": (page_select(MY_SUMMARIES, newest, True), mine | after),
        "own count": (count, mine),
        "admin list": (page_select(SUMMARY_SELECT, newest, False), first),
        "admin keyset page": (page_select(SUMMARY_SELECT, newest, True), after),
        "admin by user": (page_select(by_user, newest, False), first | {"user_id": user_id}),
        "admin by venue": (page_select(by_venue, newest, False), first | {"venue_id": venue_id}),
        "admin by status": (page_select(by_any_status, newest, False), first | confirmed),
    }
    async with app.state.engine.connect() as conn:
        dialect = conn.dialect.name
        plans = {name: await plan(conn, *query) for name, query in queries.items()}
    scanning = {name: text for name, text in plans.items() if scans_bookings(text, dialect)}
    assert scanning == {}
    assert all("ix_bookings" in text for name, text in plans.items()), plans
    # A filtered page is a range of its filter's index, in list order.
    assert "ix_bookings_user_id_status_start_datetime_id" in plans["own list by status"]
    assert "ix_bookings_venue_id_start_datetime_id" in plans["admin by venue"]
    assert "ix_bookings_status_start_datetime_id" in plans["admin by status"]
