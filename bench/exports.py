"""Exports, streamed: rows per second and the worker's peak RSS growth, for
each format on the seeded rows, then again once the table holds `big_rows`.

One server serves them all. It answers one list page first, so the first
measured export does not pay for loading the router and opening the pool.
"""

import statistics
import time

from bench.client import request
from bench.figures import median_range
from bench.procmem import MIB, PeakGrowth, Sampler
from bench.progress import log

FORMATS = ("ndjson", "json")


def _export(service, fmt: str, runs: int) -> dict:
    rows = service.rows
    seconds, growth = [], []
    for run in range(runs):
        with Sampler(service.pid) as sampler, PeakGrowth(service.pid) as peak:
            started = time.perf_counter()
            path = f"/api/admin/bookings/export?format={fmt}"
            code, size = request(service.port, "GET", path, service.headers)
            seconds.append(time.perf_counter() - started)
        assert code == 200 and size > rows * 100, (code, size)
        growth.append(peak.growth / MIB)
        if run == 0:
            service.charts[f"export {rows:,} {fmt}"] = sampler.samples
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
                exports[f"{rows:,} rows {fmt}"] = _export(service, fmt, runs)
    finally:
        service.stop()
    return exports
