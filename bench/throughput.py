"""Lists under load: the service against the floor and the naive baseline.

- lists: the admin list at page sizes 10 and 50, wrk at 32 connections after a
  warm-up: req/s, p50/p95/p99 and peak RSS, for the service (one uvicorn
  worker) and for the floor (bench/floor_app.py: Starlette + asyncpg doing
  the same queries), alternating which goes first from run to run;
- ab: the guide's success metrics, `ab -n 1000 -c 50` on the list;
- naive: the same load on the naive baseline (bench/naive_app.py), whose
  list loads every row, against the service's paginated list; and one
  buffered export against the service's streamed one.
"""

import statistics
import time
from pathlib import Path

from bench.client import request, running
from bench.load import SERVER_CPU, ab, pinned, wrk
from bench.procmem import MIB, PeakGrowth, Sampler

BENCH = Path(__file__).resolve().parent
CONNECTIONS = 32
PAGE_SIZES = (10, 50)
LIST = "/api/admin/bookings?page_size={size}&with_total=false"
# The naive list answers in seconds and holds every row while it does: eight
# at a time already shows the difference without exhausting the machine.
NAIVE_CONNECTIONS = 8


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def _under_load(pid: int, url: str, seconds: float, connections: int, headers, work, charts=None):
    """wrk against `url`, with the server's peak RSS over the load."""
    with Sampler(pid) as sampler, PeakGrowth(pid) as peak:
        result = wrk(url, seconds, connections, headers, work, timeout_s=60)
    if charts is not None:
        charts.append(sampler.samples)
    return {**result, "peak_rss_mib": peak.peak / MIB}


def _lists_on(pid: int, port: int, headers, seconds, warmup, work) -> dict:
    base = f"http://127.0.0.1:{port}"
    figures = {}
    for size in PAGE_SIZES:
        url = base + LIST.format(size=size)
        wrk(url, warmup, CONNECTIONS, headers, work)
        figures[size] = _under_load(pid, url, seconds, CONNECTIONS, headers, work)
    return figures


def phase_lists(service, headers: dict, seconds: float, warmup: float, runs: int, work) -> dict:
    floor = pinned([str(service.python), str(BENCH / "floor_app.py")], SERVER_CPU)
    measured: dict[str, dict[int, list[dict]]] = {
        system: {size: [] for size in PAGE_SIZES} for system in ("service", "floor")
    }
    for run in range(runs):
        order = ("service", "floor") if run % 2 == 0 else ("floor", "service")
        for system in order:
            if system == "service":
                service.start(cpu=SERVER_CPU)
                try:
                    result = _lists_on(service.pid, service.port, headers, seconds, warmup, work)
                finally:
                    service.stop()
            else:
                with running(floor, service.env) as (process, port):
                    result = _lists_on(process.pid, port, headers, seconds, warmup, work)
            for size, figures in result.items():
                assert figures["errors"] == 0, (system, size, figures)
                measured[system][size].append(figures)
    summary: dict = {"connections": CONNECTIONS, "seconds": seconds}
    for size in PAGE_SIZES:
        service_runs, floor_runs = measured["service"][size], measured["floor"][size]
        figures = {
            system: {
                key: _median(runs_, key)
                for key in ("rps", "p50_ms", "p95_ms", "p99_ms", "peak_rss_mib")
            }
            for system, runs_ in (("service", service_runs), ("floor", floor_runs))
        }
        figures["rps_ratio"] = figures["service"]["rps"] / figures["floor"]["rps"]
        figures["p95_ratio"] = figures["service"]["p95_ms"] / figures["floor"]["p95_ms"]
        figures["runs"] = {"service": service_runs, "floor": floor_runs}
        summary[str(size)] = figures  # string keys: the same after a JSON round trip
    summary["floor_export"] = _floor_export(floor, service.env, headers)
    return summary


def _floor_export(floor: list[str], env: dict, headers: dict) -> dict:
    """The floor's export: every row fetched, then one JSON document."""
    with running(floor, env) as (process, port), PeakGrowth(process.pid) as peak:
        started = time.perf_counter()
        code, size = request(port, "GET", "/api/admin/bookings/export", headers)
        seconds = time.perf_counter() - started
    assert code == 200, code
    return {"seconds": seconds, "bytes": size, "peak_rss_growth_mib": peak.growth / MIB}


def phase_ab(service, headers: dict) -> dict:
    """The guide's success metrics: 1,000 list requests, 50 at a time."""
    service.start(cpu=SERVER_CPU)
    try:
        url = f"http://127.0.0.1:{service.port}" + LIST.format(size=50)
        return ab(url, 1000, 50, headers)
    finally:
        service.stop()


def phase_naive(service, headers: dict, seconds: float, work, charts: dict) -> dict:
    """Peak RSS under the same load: the service's page of 50 against the
    naive list of every row; then one export, buffered against streamed."""
    samples: list = []
    service.start(cpu=SERVER_CPU)
    try:
        lean = _under_load(
            service.pid,
            f"http://127.0.0.1:{service.port}" + LIST.format(size=50),
            seconds,
            NAIVE_CONNECTIONS,
            headers,
            work,
            samples,
        )
    finally:
        service.stop()
    naive_app = pinned([str(service.python), str(BENCH / "naive_app.py"), service.slug], SERVER_CPU)
    with running(naive_app, service.env) as (process, port):
        naive = _under_load(
            process.pid,
            f"http://127.0.0.1:{port}/api/naive/bookings",
            seconds,
            NAIVE_CONNECTIONS,
            headers,
            work,
            samples,
        )
    # A fresh process for the export, so its peak is not hidden by the load's.
    with running(naive_app, service.env) as (process, port), PeakGrowth(process.pid) as peak:
        code, size = request(port, "GET", "/api/naive/export", headers)
    assert code == 200, code
    naive_export_growth = peak.growth / MIB
    lean_samples, naive_samples = samples
    offset = lean_samples[-1][0] if lean_samples else 0.0
    charts["list under load: service (page of 50), then naive (every row)"] = lean_samples + [
        (offset + t, rss) for t, rss in naive_samples
    ]
    return {
        "connections": NAIVE_CONNECTIONS,
        "seconds": seconds,
        "service": lean,
        "naive": naive,
        "peak_rss_ratio": lean["peak_rss_mib"] / naive["peak_rss_mib"],
        "naive_export_peak_growth_mib": naive_export_growth,
        "naive_export_bytes": size,
    }
