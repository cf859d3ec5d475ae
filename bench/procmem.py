"""Memory of a process, read from /proc: RSS now, peak since a reset, and a
50 ms sampler for charts."""

import threading
import time
from pathlib import Path

MIB = 1 << 20


def status(pid: int, field: str) -> int:
    """A /proc/<pid>/status field in bytes (VmRSS, VmHWM, ...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak(pid: int) -> int:
    """Reset VmHWM to the current RSS (Linux clear_refs 5); return that RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status(pid, "VmRSS")


class Sampler:
    """Samples RSS every `interval` seconds in a thread, for the chart."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic() - self._start, status(self.pid, "VmRSS")))
            except (FileNotFoundError, ProcessLookupError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()


class PeakGrowth:
    """`with PeakGrowth(pid) as g: ...` then g.growth (bytes over the RSS at entry)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = self.peak = self.growth = 0

    def __enter__(self) -> "PeakGrowth":
        self.before = reset_peak(self.pid)
        return self

    def __exit__(self, *_exc) -> None:
        self.peak = status(self.pid, "VmHWM")
        self.growth = self.peak - self.before
