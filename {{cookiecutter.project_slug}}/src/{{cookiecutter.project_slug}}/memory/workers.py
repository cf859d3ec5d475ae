"""Every worker's memory history, where any worker can read it (the dashboard).

Under gunicorn each worker samples its own memory (probe.py); a request for
the history reaches one of them. So each worker writes its recent samples and
emergency collections to a small file of its own, `<pid>.json` in
MEMORY_SHARE_DIR (gunicorn_conf.py makes one per master), at most once a
second, and the history endpoint reads them all. Files are replaced whole
(written beside, then renamed), so a reader never sees half of one; a worker
that stopped without removing its file is left out once its last sample is
older than STALE_SECONDS. Without MEMORY_SHARE_DIR (one process) the history
is this process's alone, read from memory.
"""

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import orjson

from .guard import MemoryGuard
from .probe import MB, MemoryProbe, Sample

WRITE_EVERY_SECONDS = 1.0
STALE_SECONDS = 10.0


def worker_history(probe: MemoryProbe, guard: MemoryGuard, every: int = 1) -> dict[str, Any]:
    """This worker's samples [time, RSS MiB, pressure %] (every `every`-th),
    oldest first, and the times of its emergency collections."""
    samples = [
        [round(at, 3), round(rss / MB, 1), round(pressure, 2)]
        for index, (at, rss, pressure) in enumerate(probe.history)
        if index % every == 0
    ]
    return {"pid": os.getpid(), "samples": samples, "emergencies": list(guard.emergency_times)}


class SharedHistory:
    """Writes this worker's history to its file; reads every worker's."""

    def __init__(self, directory: Path, probe: MemoryProbe, guard: MemoryGuard) -> None:
        self.directory = directory
        self.probe = probe
        self.guard = guard
        # About one sample a second in the file, whatever the sampling interval.
        self.every = max(1, round(1.0 / probe.interval))
        self.next_write = 0.0
        self.path = directory / f"{os.getpid()}.json"

    def start(self) -> None:
        """In the worker (after fork): write its file with each sample."""
        self.path = self.directory / f"{os.getpid()}.json"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.probe.listeners.append(self.sampled)

    def sampled(self, sample: Sample) -> None:
        if sample.at < self.next_write:
            return
        self.next_write = sample.at + WRITE_EVERY_SECONDS
        partial = self.path.with_suffix(".partial")
        partial.write_bytes(orjson.dumps(worker_history(self.probe, self.guard, self.every)))
        partial.replace(self.path)

    def stop(self) -> None:
        if self.sampled in self.probe.listeners:
            self.probe.listeners.remove(self.sampled)
        self.path.unlink(missing_ok=True)

    def read_all(self) -> list[dict[str, Any]]:
        """Every live worker's history, by pid."""
        workers, now = [], time.time()
        for path in sorted(self.directory.glob("*.json")):
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                history = orjson.loads(path.read_bytes())
                samples = history["samples"]
                if samples and now - samples[-1][0] <= STALE_SECONDS:
                    workers.append(history)
        return sorted(workers, key=lambda history: history["pid"])
