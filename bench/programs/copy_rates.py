"""How fast PostgreSQL itself writes the export's rows, with no Python in
the loop: COPY of the same query to a discarding sink, as JSON (row_to_json,
one object per line), as plain text and as CSV. Prints `json SECONDS`,
`text SECONDS`, `csv SECONDS`.

    python copy_rates.py        (DATABASE_URL from the environment)
"""

import asyncio
import os
import time

import asyncpg

EXPORT_SQL = (
    "SELECT id, booking_reference, user_id, venue_id, title, status, start_datetime, "
    "end_datetime, notes, created_at, updated_at FROM bookings ORDER BY start_datetime DESC, id DESC"
)
QUERIES = {
    "json": (f"SELECT row_to_json(b) FROM ({EXPORT_SQL}) b", {}),
    "text": (EXPORT_SQL, {}),
    "csv": (EXPORT_SQL, {"format": "csv", "header": True}),
}


async def discard(_data: bytes) -> None:
    pass


async def main() -> None:
    conn = await asyncpg.connect(os.environ["DATABASE_URL"].replace("+asyncpg", ""))
    await conn.execute("SET TimeZone = 'UTC'")
    for name, (query, options) in QUERIES.items():
        started = time.perf_counter()
        await conn.copy_from_query(query, output=discard, **options)
        print(name, time.perf_counter() - started)
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
