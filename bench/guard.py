"""The memory guard's overhead: requests per second with and without it.

The same app is served twice by bench/serve_app.py, once without the guard
middleware, and loaded with wrk at the same concurrency. Servers alternate
(with, without, then without, with, ...) so drift on a shared machine falls
on both alike; each figure is the median over the runs.
"""

import statistics
from pathlib import Path

from bench.client import running
from bench.load import SERVER_CPU, pinned, wrk

BENCH = Path(__file__).resolve().parent
CONNECTIONS = 32
PATHS = {
    "health": "/api/health",
    "list": "/api/admin/bookings?page_size=10&with_total=false",
}


def _measure(service, with_guard: bool, seconds: float) -> dict:
    command = [str(service.python), str(BENCH / "serve_app.py"), service.slug]
    if not with_guard:
        command.append("--without-guard")
    headers, work = service.headers, service.work
    with running(pinned(command, SERVER_CPU), service.env) as server:
        wrk(server.url(PATHS["list"]), 1, CONNECTIONS, headers, work)  # warm-up
        return {
            name: wrk(server.url(path), seconds, CONNECTIONS, headers, work)
            for name, path in PATHS.items()
        }


def phase_guard(service, *, seconds: float, runs: int) -> dict:
    measured: dict[str, dict[str, list[float]]] = {
        name: {"with": [], "without": []} for name in PATHS
    }
    for run in range(runs):
        order = (True, False) if run % 2 == 0 else (False, True)
        for with_guard in order:
            result = _measure(service, with_guard, seconds)
            for name, figures in result.items():
                assert figures["errors"] == 0, (name, figures)
                measured[name]["with" if with_guard else "without"].append(figures["rps"])
    summary = {}
    for name, by_server in measured.items():
        with_rps = statistics.median(by_server["with"])
        without_rps = statistics.median(by_server["without"])
        summary[name] = {
            "rps_with": with_rps,
            "rps_without": without_rps,
            "overhead": 1 - with_rps / without_rps,
            "runs": by_server,
        }
    return {"connections": CONNECTIONS, "seconds": seconds, "paths": PATHS, **summary}
