"""Four workers: total PSS of gunicorn (preloaded app, warmed up, gc.freeze() before fork)
versus `uvicorn --workers 4`, the same app under the same load.

PSS (proportional set size, /proc/<pid>/smaps_rollup) splits every shared page
between the processes sharing it, so the sum over the process tree is what
the deployment really costs the machine; RSS would count shared pages once
per process.
"""

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.client import request, running

WORKERS = 4
LOAD_THREADS = 8
# Every resource router is used, so each worker has imported what it serves.
LOAD_PATHS = [
    "/api/health",
    "/api/bookings?page_size=10",
    "/api/admin/bookings?page_size=50&with_total=false",
    "/api/venues",
    "/api/uploads",
]


def process_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may hold spaces; it ends at the last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise KeyError("Pss")


def drive_load(port: int, headers: dict, seconds: float) -> int:
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> int:
        done = 0
        while time.monotonic() < deadline:
            path = LOAD_PATHS[(offset + done) % len(LOAD_PATHS)]
            code, _ = request(port, "GET", path, headers)
            assert code == 200, (path, code)
            done += 1
        return done

    with ThreadPoolExecutor(LOAD_THREADS) as pool:
        return sum(pool.map(worker, range(LOAD_THREADS)))


def wait_for_workers(root: int, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while len(process_tree(root)) < count + 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not start")
        time.sleep(0.2)


def total_pss_mib(root: int) -> float:
    return sum(pss_mib(pid) for pid in process_tree(root))


def _pss_under_load(pid: int, port: int, headers: dict, load_seconds: float) -> dict:
    wait_for_workers(pid, WORKERS)
    time.sleep(1.0)
    booted = total_pss_mib(pid)
    requests = drive_load(port, headers, load_seconds)
    time.sleep(1.0)
    return {
        "pss_mib": total_pss_mib(pid),
        "booted_pss_mib": booted,
        "processes": len(process_tree(pid)),
        "requests": requests,
    }


def _measure(service, command: list[str] | None, load_seconds: float) -> dict:
    if command is None:  # the service's own multi-worker mode: gunicorn
        service.start("--workers", str(WORKERS))
        try:
            return _pss_under_load(service.pid, service.port, service.headers, load_seconds)
        finally:
            service.stop()
    # `running` appends the port: the command ends with its option name.
    with running([*command, "--port"], service.env) as server:
        return _pss_under_load(server.pid, server.port, service.headers, load_seconds)


def phase_workers(service, *, runs: int, load_seconds: float) -> dict:
    uvicorn = [
        str(service.python.parent / "uvicorn"),
        f"{service.slug}.app:create_app",
        "--factory",
        f"--workers={WORKERS}",
        "--log-level=warning",
    ]
    measured: dict[str, list[dict]] = {"gunicorn": [], "uvicorn": []}
    for _ in range(runs):
        measured["gunicorn"].append(_measure(service, None, load_seconds))
        measured["uvicorn"].append(_measure(service, uvicorn, load_seconds))

    def med(server: str, key: str) -> float:
        return statistics.median(run[key] for run in measured[server])

    return {
        "workers": WORKERS,
        "load_seconds": load_seconds,
        "gunicorn_pss_mib": med("gunicorn", "pss_mib"),
        "uvicorn_pss_mib": med("uvicorn", "pss_mib"),
        "ratio": med("gunicorn", "pss_mib") / med("uvicorn", "pss_mib"),
        "booted_gunicorn_pss_mib": med("gunicorn", "booted_pss_mib"),
        "booted_uvicorn_pss_mib": med("uvicorn", "booted_pss_mib"),
        "runs": measured,
    }
