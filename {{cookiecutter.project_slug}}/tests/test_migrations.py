import asyncio

from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.project_slug }}.migrations import downgrade, upgrade

TABLES = {"users", "venues", "bookings", "booking_items"}
INDEXES = {
    ("bookings", "ix_bookings_user_id_status"),
    ("bookings", "ix_bookings_start_datetime_id"),
    ("bookings", "ix_bookings_user_id_start_datetime_id"),
    ("booking_items", "ix_booking_items_booking_id"),
}


def _inspect(connection: Connection) -> tuple[set[str], set[tuple[str, str | None]]]:
    inspector = inspect(connection)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    indexes = {(table, ix["name"]) for table in tables for ix in inspector.get_indexes(table)}
    return tables, indexes


def schema(url: str) -> tuple[set[str], set[tuple[str, str | None]]]:
    async def read() -> tuple[set[str], set[tuple[str, str | None]]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_inspect)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_upgrade_downgrade_upgrade(database_url):
    upgrade(database_url)
    tables, indexes = schema(database_url)
    assert tables >= TABLES
    assert indexes >= INDEXES

    downgrade(database_url, "0001")
    tables, indexes = schema(database_url)
    assert tables >= TABLES
    assert not INDEXES & indexes

    downgrade(database_url, "base")
    assert schema(database_url) == (set(), set())

    upgrade(database_url)
    assert schema(database_url)[1] >= INDEXES
