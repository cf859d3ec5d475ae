"""How fast PostgreSQL itself writes the export's rows, with no Python in
the loop: COPY of the export's query (from the model of the service's
package, PACKAGE) to a discarding sink, as JSON (row_to_json, one object per
line), as plain text, as CSV, and as text with one string function per
timestamp (what any reformatting costs at the least); and the service's own
COPY statements of its CSV and NDJSON exports (the database's share of an export). The queries run in
turn, `--runs` rounds of them (a shared machine's speed drifts from minute to
minute: ratios are only fair between runs of the same minutes). Prints
`NAME SECONDS` lines, each the median of its runs.

    python copy_rates.py PACKAGE [--only NAME,...] [--runs N]   (DATABASE_URL from the environment)
"""

import argparse
import asyncio
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg

# bench/model_sql.py: a program runs with its own folder, bench/programs, on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model_sql


def floor_queries(package: str) -> dict:
    """The export's query (from the service's model: bench/model_sql.py) as
    the database alone writes it, in each format."""
    export_sql = model_sql.export_sql(package)
    return {
        "json": (f"SELECT row_to_json(b) FROM ({export_sql}) b", {}),
        "text": (export_sql, {}),
        "csv": (export_sql, {"format": "csv", "header": True}),
        "text_one_replace": (model_sql.export_sql(package, timestamps_as_text=True), {}),
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
    parser.add_argument("package")
    parser.add_argument("--only", type=lambda names: names.split(","))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    queries = {**floor_queries(args.package), **service_queries(args.package)}
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
