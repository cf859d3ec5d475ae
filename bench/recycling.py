"""Worker recycling under load: `serve --workers 2` with gunicorn's
max_requests made small (1,000, jitter 100) so that a minute of the
generated `loadtest` (8 users back to back) recycles workers several times;
the requests that failed across the recycles, and every worker's RSS,
sampled from /proc: the first two workers against those that replaced them.
"""

import contextlib
import statistics
import threading
from collections import defaultdict

from bench.load import loadtest
from bench.procmem import MIB, status
from bench.workers import process_tree, wait_for_workers

MAX_REQUESTS = 1000
JITTER = 100
USERS = 8
SAMPLE_SECONDS = 0.25  # a worker lives several seconds: each is seen many times


class WorkerSampler(threading.Thread):
    """Every worker under the master, by pid, with the RSS samples it had."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master, self.done = master, threading.Event()
        self.rss: dict[int, list[float]] = defaultdict(list)
        self.first = sorted(set(process_tree(master)) - {master})

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            for pid in set(process_tree(self.master)) - {self.master}:
                with contextlib.suppress(OSError, KeyError):  # it left between the two reads
                    self.rss[pid].append(status(pid, "VmRSS") / MIB)


def phase_recycling(service, *, seconds: float) -> dict:
    options = f"--max-requests {MAX_REQUESTS} --max-requests-jitter {JITTER}"
    service.start("--workers", "2", env={"GUNICORN_CMD_ARGS": options})
    try:
        wait_for_workers(service.pid, 2)
        sampler = WorkerSampler(service.pid)
        sampler.start()
        # Two workers take both cores: the load shares them.
        load = loadtest(service, f"--users={USERS}", "--rate=0", f"--duration={seconds}", cpu=None)
        sampler.done.set()
        sampler.join()
    finally:
        service.stop()
    return figures(load, sampler, seconds)


def figures(load: dict, sampler: WorkerSampler, seconds: float) -> dict:
    f = load["figures"]

    def memory(pids: list[int]) -> list[dict]:
        return [
            {"average_mib": round(statistics.fmean(s), 1), "peak_mib": round(max(s), 1)}
            for pid in pids
            if (s := sampler.rss.get(pid))
        ]

    later = sorted(set(sampler.rss) - set(sampler.first))
    return {
        "seconds": seconds,
        "users": USERS,
        "max_requests": MAX_REQUESTS,
        "jitter": JITTER,
        "requests": f["requests"],
        "failed": sum(f["failures"].values()),
        "server_errors": f["server_errors"],
        "no_answer": f["no_answer"],
        # Every worker beyond the first two took the place of one recycled.
        "recycles": len(later),
        "first_workers": memory(sampler.first),
        "later_workers": memory(later),
    }
