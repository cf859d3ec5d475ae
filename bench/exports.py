"""Exports, streamed: rows per second and the worker's peak RSS growth, for
each format, plain and gzipped, on the seeded rows, then again once the table
holds `big_rows`. On PostgreSQL the service exports with COPY (copy_export.py);
bench/database_floor.py measures the database's own COPY of the same rows.

One server serves them all. It answers one list page first, so the first
measured export does not pay for loading the router and opening the pool.
"""

import statistics
import time

from bench.client import request
from bench.figures import median_range
from bench.procmem import MIB, PeakGrowth, Sampler
from bench.progress import log

FORMATS = ("ndjson", "json", "csv")
# Most clients ask for gzip: the service compresses the stream as it goes.
ENCODINGS = {"": {}, " gzip": {"Accept-Encoding": "gzip"}}
# Bytes per row at least (a booking is about 370 bytes as text, 80 gzipped).
SMALLEST_ROW = {"": 100, " gzip": 20}


def _export(service, fmt: str, encoding: str, runs: int) -> dict:
    rows = service.rows
    seconds, growth = [], []
    headers = {**service.headers, **ENCODINGS[encoding]}
    for run in range(runs):
        with Sampler(service.pid) as sampler, PeakGrowth(service.pid) as peak:
            started = time.perf_counter()
            path = f"/api/admin/bookings/export?format={fmt}"
            code, size = request(service.port, "GET", path, headers)
            seconds.append(time.perf_counter() - started)
        assert code == 200 and size > rows * SMALLEST_ROW[encoding], (code, size)
        growth.append(peak.growth / MIB)
        if run == 0:
            service.charts[f"export {rows:,} {fmt}{encoding}"] = sampler.samples
    return {
        "rows": rows,
        "seconds": median_range(seconds),
        "rows_per_second": rows / statistics.median(seconds),
        "peak_rss_growth_mib": median_range(growth),
    }


def phase_exports(service, *, runs: int, big_rows: int) -> dict:
    exports = {}
    service.start()
    try:
        request(service.port, "GET", "/api/admin/bookings?page_size=50", service.headers)
        for rows in (service.rows, big_rows):
            if rows != service.rows:
                log(f"seeding up to {rows:,} bookings")
                service.seed(rows)
            for fmt in FORMATS:
                for encoding in ENCODINGS:
                    name = f"{rows:,} rows {fmt}{encoding}"
                    exports[name] = _export(service, fmt, encoding, runs)
    finally:
        service.stop()
    return exports
