"""Idle memory: the service's RSS after its first /health, and the floor's,
the same libraries with nothing of the service (bench/import_floor.py)."""

import time
from pathlib import Path

from bench.client import request, running
from bench.figures import median_range
from bench.procmem import MIB, status

IMPORT_FLOOR = Path(__file__).resolve().parent / "import_floor.py"


def idle_rss_mib(pid: int, port: int) -> float:
    """RSS after the first /health, once the process has settled."""
    request(port, "GET", "/api/health")
    time.sleep(1.0)
    return status(pid, "VmRSS") / MIB


def phase_idle(service, *, runs: int) -> dict:
    service_rss, floor_rss = [], []
    for _ in range(runs):
        service.start()
        try:
            service_rss.append(idle_rss_mib(service.pid, service.port))
        finally:
            service.stop()
        with running([str(service.python), str(IMPORT_FLOOR)], service.env) as floor:
            floor_rss.append(idle_rss_mib(floor.pid, floor.port))
    return {"rss_mib": median_range(service_rss), "floor_rss_mib": median_range(floor_rss)}
