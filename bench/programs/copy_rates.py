"""How fast PostgreSQL itself writes the export's rows, with no Python in
the loop: COPY of the same query to a discarding sink, as JSON (row_to_json,
one object per line), as plain text, as CSV, and as text with one string
function per timestamp (what any reformatting costs at the least); and,
given the service's package, the service's own COPY statements of its CSV
and NDJSON exports (the database's share of an export). The queries run in
turn, `--runs` rounds of them (a shared machine's speed drifts from minute to
minute: ratios are only fair between runs of the same minutes). Prints
`NAME SECONDS` lines, each the median of its runs.

    python copy_rates.py [PACKAGE] [--only NAME,...] [--runs N]   (DATABASE_URL from the environment)
"""

import argparse
import asyncio
import importlib
import os
import statistics
import time

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg

EXPORT_SQL = (
    "SELECT id, booking_reference, user_id, venue_id, title, status, start_datetime, "
    "end_datetime, notes, created_at, updated_at FROM bookings ORDER BY start_datetime DESC, id DESC"
)
TIMESTAMPS = ("start_datetime", "end_datetime", "created_at", "updated_at")
# The least any reformatting of the timestamps costs: one string function
# each (the API's "T"), where the service's format needs a few.
ONE_REPLACE_SQL = (
    "SELECT id, booking_reference, user_id, venue_id, title, status, "
    + ", ".join(f"replace({name}::text, ' ', 'T')" for name in TIMESTAMPS[:2])
    + ", notes, "
    + ", ".join(f"replace({name}::text, ' ', 'T')" for name in TIMESTAMPS[2:])
    + " FROM bookings ORDER BY start_datetime DESC, id DESC"
)
QUERIES = {
    "json": (f"SELECT row_to_json(b) FROM ({EXPORT_SQL}) b", {}),
    "text": (EXPORT_SQL, {}),
    "csv": (EXPORT_SQL, {"format": "csv", "header": True}),
    "text_one_replace": (ONE_REPLACE_SQL, {}),
}


async def discard(_data: bytes) -> None:
    pass


def service_queries(package: str) -> dict:
    """The administrators' CSV and NDJSON exports as the service runs them:
    its own COPY statements (copy_export.py), values formatted as the API's."""
    copy_export = importlib.import_module(f"{package}.copy_export")
    admin = importlib.import_module(f"{package}.routers.admin_bookings")
    export = importlib.import_module(f"{package}.export")
    newest = admin.BOOKING_SORTS[admin.BookingSort.newest_first]
    stmt = export.ordered(admin.EXPORT_SELECT, newest)
    dialect = postgresql_asyncpg.dialect()
    csv, ndjson = (copy_export.copy_query(stmt, for_csv, dialect).sql for for_csv in (True, False))
    return {
        "service_csv": (csv, {"format": "csv", "header": True}),
        "service_ndjson": (ndjson, copy_export.VERBATIM),
    }


async def main() -> None:
    conn = await asyncpg.connect(os.environ["DATABASE_URL"].replace("+asyncpg", ""))
    await conn.execute("SET TimeZone = 'UTC'")
    await conn.execute("SET datestyle = 'ISO'")
    parser = argparse.ArgumentParser()
    parser.add_argument("package", nargs="?")
    parser.add_argument("--only", type=lambda names: names.split(","))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    queries = {**QUERIES, **(service_queries(args.package) if args.package else {})}
    chosen = {name: query for name, query in queries.items() if name in (args.only or queries)}
    seconds: dict[str, list[float]] = {name: [] for name in chosen}
    for _ in range(args.runs):
        for name, (query, options) in chosen.items():
            started = time.perf_counter()
            await conn.copy_from_query(query, output=discard, **options)
            seconds[name].append(time.perf_counter() - started)
    for name, runs in seconds.items():
        print(name, statistics.median(runs))
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
