"""Soak: one uvicorn worker, never recycled, under the mixed load of the
service's own `loadtest` (every resource: lists and cursor pages, reads,
creates, updates, deletes, small exports) for minutes; RSS and PSS sampled.

The figure is the slope of RSS over the second half (after the worker has
warmed up), per 100,000 requests at the run's mean rate: a leak of a few
hundred bytes a request shows as MiB here. Not in --quick; run it alone
(`bench/run.py --only soak`).
"""

import threading
import time

from bench.load import SERVER_CPU, loadtest
from bench.procmem import MIB, status
from bench.workers import pss_mib

SAMPLE_SECONDS = 5.0
USERS = 16  # back to back: enough to keep one worker busy
TARGET_MIB_PER_100K = 0.5


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y)."""
    n = len(samples)
    mx = sum(x for x, _ in samples) / n
    my = sum(y for _, y in samples) / n
    var = sum((x - mx) ** 2 for x, _ in samples)
    return sum((x - mx) * (y - my) for x, y in samples) / var if var else 0.0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.done = pid, threading.Event()
        self.samples: list[tuple[float, float, float]] = []  # seconds, RSS MiB, PSS MiB
        self.started = time.monotonic()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            rss = status(self.pid, "VmRSS") / MIB
            self.samples.append((time.monotonic() - self.started, rss, pss_mib(self.pid)))


def soak(service, seconds: float, users: int = USERS) -> dict:
    """The soak's figures; the server started here on its own core, stopped here."""
    service.start(cpu=SERVER_CPU)
    try:
        sampler = Sampler(service.pid)
        sampler.start()
        load = loadtest(service, f"--users={users}", "--rate=0", f"--duration={seconds}")
        sampler.done.set()
        sampler.join()
    finally:
        service.stop()
    return {**figures(load, sampler.samples), "users": users}


def figures(load: dict, samples: list[tuple[float, float, float]]) -> dict:
    f = load["figures"]
    rate = f["requests"] / f["seconds"]
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    per_100k = 100_000 / rate  # seconds per 100,000 requests
    return {
        "seconds": f["seconds"],
        "requests": f["requests"],
        "requests_per_second": round(rate, 1),
        "server_errors": f["server_errors"],
        "success_percent": f["success_percent"],
        "latency_ms": f["latency_ms"],
        "rss_first_mib": round(samples[0][1], 1),
        "rss_last_mib": round(samples[-1][1], 1),
        "rss_peak_mib": round(max(s[1] for s in samples), 1),
        "pss_last_mib": round(samples[-1][2], 1),
        "rss_slope_mib_per_100k": round(slope([(t, r) for t, r, _ in half]) * per_100k, 3),
        "pss_slope_mib_per_100k": round(slope([(t, p) for t, _, p in half]) * per_100k, 3),
        "load_generator": load["load_generator"],
        "samples": [[round(t, 1), round(r, 1), round(p, 1)] for t, r, p in samples],
    }


def phase_soak(service, *, seconds: float) -> dict:
    return {**soak(service, seconds), "target_mib_per_100k": TARGET_MIB_PER_100K}
