"""Exports, streamed: rows per second and the worker's peak RSS growth, for
each format, plain and gzipped, on the seeded rows, then again once the table
holds `big_rows`. On PostgreSQL the service exports with COPY (copy_export.py).
The million-row CSV and NDJSON exports, the ones held to the database's own
speed, alternate run by run with PostgreSQL's own COPY of the same rows (CSV and
text, row_to_json) and with the service's own COPY statement run alone (the
database's share; bench/programs/copy_rates.py), so that each ratio compares
runs of the same minutes on this shared machine, five times each, and their
ratio is the median of the runs' own ratios; bench/database_floor.py adds
the other COPY rates.

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
# The COPYs each format's export alternates with: PostgreSQL's own of the
# same rows (CSV's also as text, the faster writer), and the service's
# statement alone.
FLOORS = {"csv": ("csv", "text", "service_csv"), "ndjson": ("json", "service_ndjson")}
# Runs of the held exports, each beside its COPYs: their ratio is a median of
# the runs' own ratios, and one run's ratio drifts by several percent.
HELD_RUNS = 5
# Bytes per row at least (a booking is about 370 bytes as text, 80 gzipped).
SMALLEST_ROW = {"": 100, " gzip": 20}


def _copy_seconds(service, names: tuple[str, ...]) -> dict[str, float]:
    output = service.program("copy_rates", service.slug, "--only", ",".join(names))
    return {name: float(seconds) for name, seconds in map(str.split, output.splitlines())}


def _export(service, fmt: str, encoding: str, runs: int, floors: tuple[str, ...] = ()) -> dict:
    rows = service.rows
    seconds, growth, copies = [], [], {name: [] for name in floors}
    headers = {**service.headers, **ENCODINGS[encoding]}
    for run in range(runs):
        if floors:
            for name, took in _copy_seconds(service, floors).items():
                copies[name].append(took)
        with Sampler(service.pid) as sampler, PeakGrowth(service.pid) as peak:
            started = time.perf_counter()
            path = f"/api/admin/bookings/export?format={fmt}"
            code, size = request(service.port, "GET", path, headers)
            seconds.append(time.perf_counter() - started)
        assert code == 200 and size > rows * SMALLEST_ROW[encoding], (code, size)
        growth.append(peak.growth / MIB)
        if run == 0:
            service.charts[f"export {rows:,} {fmt}{encoding}"] = sampler.samples
    figures = {
        "rows": rows,
        "seconds": median_range(seconds),
        "rows_per_second": rows / statistics.median(seconds),
        "peak_rss_growth_mib": median_range(growth),
    }
    for name, took in copies.items():
        figures[f"{name}_copy"] = {
            "seconds": median_range(took),
            "rows_per_second": rows / statistics.median(took),
            # The export's rate over the COPY's, run by run (paired in time).
            "export_ratio": median_range(
                [copy / export for copy, export in zip(took, seconds, strict=True)]
            ),
        }
    return figures


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
                    held = rows == big_rows and not encoding
                    floors = FLOORS.get(fmt, ()) if held else ()
                    times = max(runs, HELD_RUNS) if floors and runs > 1 else runs
                    exports[name] = _export(service, fmt, encoding, times, floors)
    finally:
        service.stop()
    return exports
