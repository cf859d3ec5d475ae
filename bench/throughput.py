"""Lists under load: the service against two floors and the naive baseline.

- lists: wrk at 32 connections after a warm-up: req/s, p50/p95/p99, CPU per
  request and peak RSS. The service (one uvicorn worker, every default on:
  authentication, the page's total, the rate limiter, the memory guard,
  gzip) serves the admin list at page sizes 10 and 50 and the caller's own
  list of 50; the floors serve the same admin page: bench/floor_app.py
  (Starlette + asyncpg: below the chosen stack) and bench/stack_floor_app.py
  (FastAPI + SQLAlchemy Core + asyncpg + orjson, one query: the stack's own
  ceiling). Systems alternate which goes first from run to run;
- ab: the guide's success metrics, `ab -n 1000 -c 50` on the caller's own
  list, with one worker and with `serve --workers 2`;
- naive: the same load on the naive baseline (bench/naive_app.py), whose
  list loads every row, against the service's paginated list; and one
  buffered export against the service's streamed one.
"""

import os
import statistics
import time
from pathlib import Path

from bench.client import request, running
from bench.load import SERVER_CPU, ab, pinned, wrk
from bench.procmem import MIB, PeakGrowth, Sampler

BENCH = Path(__file__).resolve().parent
CONNECTIONS = 32
PAGE_SIZES = (10, 50)
LIST = "/api/admin/bookings?page_size={size}"
OWN_LIST = "/api/bookings?page_size=50"
# What each system serves, by figure name: the floors only have the admin list.
SERVICE_LISTS = {"10": LIST.format(size=10), "50": LIST.format(size=50), "own 50": OWN_LIST}
FLOOR_LISTS = {"10": LIST.format(size=10), "50": LIST.format(size=50)}
FLOORS = {"floor": "floor_app.py", "stack": "stack_floor_app.py"}
# The limiter runs on every request, as by default, with a limit no load here reaches.
RATE_LIMITED = {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_DEFAULT": "100000000/minute"}
FIGURES = ("rps", "p50_ms", "p95_ms", "p99_ms", "peak_rss_mib", "cpu_ms_per_request")
# The naive list answers in seconds and holds every row while it does: eight
# at a time already shows the difference without exhausting the machine.
NAIVE_CONNECTIONS = 8


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _under_load(pid: int, url: str, seconds: float, connections: int, headers, work, charts=None):
    """wrk against `url`, with the server's peak RSS and CPU per request over the load."""
    cpu_before = cpu_seconds(pid)
    with Sampler(pid) as sampler, PeakGrowth(pid) as peak:
        result = wrk(url, seconds, connections, headers, work, timeout_s=60)
    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / max(1, result["requests"])
    if charts is not None:
        charts.append(sampler.samples)
    return {**result, "peak_rss_mib": peak.peak / MIB, "cpu_ms_per_request": cpu_ms}


def _lists_on(pid: int, port: int, paths: dict, headers, seconds, warmup, work) -> dict:
    base = f"http://127.0.0.1:{port}"
    figures = {}
    for name, path in paths.items():
        wrk(base + path, warmup, CONNECTIONS, headers, work)
        figures[name] = _under_load(pid, base + path, seconds, CONNECTIONS, headers, work)
    return figures


def _measure_system(system: str, service, seconds, warmup) -> dict:
    headers, work = service.headers, service.work
    if system == "service":
        service.start(cpu=SERVER_CPU, env=RATE_LIMITED)
        try:
            return _lists_on(
                service.pid, service.port, SERVICE_LISTS, headers, seconds, warmup, work
            )
        finally:
            service.stop()
    floor = pinned([str(service.python), str(BENCH / FLOORS[system]), service.slug], SERVER_CPU)
    with running(floor, service.env) as server:
        return _lists_on(server.pid, server.port, FLOOR_LISTS, headers, seconds, warmup, work)


def phase_lists(service, *, seconds: float, warmup: float, runs: int) -> dict:
    systems = ("service", *FLOORS)
    measured: dict[str, dict[str, list[dict]]] = {system: {} for system in systems}
    for run in range(runs):
        order = systems[run % len(systems) :] + systems[: run % len(systems)]
        for system in order:
            result = _measure_system(system, service, seconds, warmup)
            for name, figures in result.items():
                assert figures["errors"] == 0, (system, name, figures)
                measured[system].setdefault(name, []).append(figures)
    summary: dict = {"connections": CONNECTIONS, "seconds": seconds, "rows": service.rows}
    for name in SERVICE_LISTS:
        # The own list is read against the floors' admin list of the same size.
        floor_name = name.split()[-1]
        figures = {
            system: {key: _median(measured[system][list_name], key) for key in FIGURES}
            for system, list_name in (
                ("service", name),
                ("floor", floor_name),
                ("stack", floor_name),
            )
        }
        service_figures = figures["service"]
        figures["rps_ratio"] = service_figures["rps"] / figures["floor"]["rps"]
        figures["stack_rps_ratio"] = service_figures["rps"] / figures["stack"]["rps"]
        figures["p95_ratio"] = service_figures["p95_ms"] / figures["floor"]["p95_ms"]
        figures["p99_ratio"] = service_figures["p99_ms"] / figures["floor"]["p99_ms"]
        figures["runs"] = {
            "service": measured["service"][name],
            "floor": measured["floor"][floor_name],
            "stack": measured["stack"][floor_name],
        }
        summary[name] = figures
    floor = pinned([str(service.python), str(BENCH / "floor_app.py"), service.slug], SERVER_CPU)
    summary["floor_export"] = _floor_export(floor, service.env, service.headers)
    return summary


def _floor_export(floor: list[str], env: dict, headers: dict) -> dict:
    """The floor's export: every row fetched, then one JSON document."""
    with running(floor, env) as server, PeakGrowth(server.pid) as peak:
        started = time.perf_counter()
        code, size = request(server.port, "GET", "/api/admin/bookings/export", headers)
        seconds = time.perf_counter() - started
    assert code == 200, code
    return {"seconds": seconds, "bytes": size, "peak_rss_growth_mib": peak.growth / MIB}


def phase_ab(service) -> dict:
    """The guide's success metrics: 1,000 requests for the caller's own list,
    50 at a time, with every default on; one worker (on its own core), then
    `serve --workers 2` (not pinned: two workers need two cores)."""
    results = {}
    for workers, cpu in ((1, SERVER_CPU), (2, None)):
        service.start("--workers", str(workers), cpu=cpu, env=RATE_LIMITED)
        try:
            url = f"http://127.0.0.1:{service.port}{OWN_LIST}"
            ab(url, 50, 50, service.headers)  # warm-up: the first requests of each worker
            results[f"{workers}_workers"] = ab(url, 1000, 50, service.headers)
        finally:
            service.stop()
    return {"path": OWN_LIST, **results}


def phase_naive(service, *, seconds: float) -> dict:
    """Peak RSS under the same load: the service's page of 50 against the
    naive list of every row; then one export, buffered against streamed."""
    headers, work = service.headers, service.work
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
    with running(naive_app, service.env) as server:
        naive = _under_load(
            server.pid,
            server.url("/api/naive/bookings"),
            seconds,
            NAIVE_CONNECTIONS,
            headers,
            work,
            samples,
        )
    # A fresh process for the export, so its peak is not hidden by the load's.
    with running(naive_app, service.env) as server, PeakGrowth(server.pid) as peak:
        code, size = request(server.port, "GET", "/api/naive/export", headers)
    assert code == 200, code
    naive_export_growth = peak.growth / MIB
    lean_samples, naive_samples = samples
    offset = lean_samples[-1][0] if lean_samples else 0.0
    service.charts["list under load: service (page of 50), then naive (every row)"] = (
        lean_samples + [(offset + t, rss) for t, rss in naive_samples]
    )
    return {
        "connections": NAIVE_CONNECTIONS,
        "seconds": seconds,
        "service": lean,
        "naive": naive,
        "peak_rss_ratio": lean["peak_rss_mib"] / naive["peak_rss_mib"],
        "naive_export_peak_growth_mib": naive_export_growth,
        "naive_export_bytes": size,
    }
