"""The memory probe: how close this worker is to running out, read in the background.

A sampler task reads memory every MEMORY_SAMPLE_INTERVAL_MS and keeps the
result in `probe.latest` (the last few minutes in `probe.history`, for the
dashboard); the request path only ever reads `probe.latest`. The pressure is
the highest of the cgroup's (v2, else v1, else the host's) working set over its
limit and this process's RSS over MEMORY_LIMIT_MB when that is set.

Why it is built this way: docs/design-notes.md, "memory/probe.py".
"""

import asyncio
import logging
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)

# cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages: about 2**63 bytes.
CGROUP_V1_NO_LIMIT = 1 << 60
HISTORY_SECONDS = 300
MB = 1 << 20


@dataclass(frozen=True)
class Reading:
    used: int
    limit: int | None
    source: str

    @property
    def percent(self) -> float | None:
        return None if not self.limit else 100.0 * self.used / self.limit


@dataclass(frozen=True)
class Sample:
    at: float  # time.time()
    rss: int  # this process's resident set, bytes
    pressure: float  # effective pressure, percent
    source: str  # what the effective pressure comes from
    limit: int | None  # that source's limit, bytes
    system: Reading  # the container's (or else the host's) reading


def _stat_value(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def read_cgroup_v2(directory: Path) -> Reading | None:
    try:
        current = int((directory / "memory.current").read_text())
        limit_text = (directory / "memory.max").read_text().strip()
        inactive = _stat_value(directory / "memory.stat", "inactive_file")
    except (OSError, ValueError):
        return None
    limit = None if limit_text == "max" else int(limit_text)
    return Reading(max(current - inactive, 0), limit, "cgroup v2")


def read_cgroup_v1(directory: Path) -> Reading | None:
    try:
        usage = int((directory / "memory.usage_in_bytes").read_text())
        limit = int((directory / "memory.limit_in_bytes").read_text())
        inactive = _stat_value(directory / "memory.stat", "total_inactive_file")
    except (OSError, ValueError):
        return None
    return Reading(
        max(usage - inactive, 0), None if limit >= CGROUP_V1_NO_LIMIT else limit, "cgroup v1"
    )


def read_host() -> Reading:
    memory = psutil.virtual_memory()
    return Reading(memory.total - memory.available, memory.total, "host")


def cgroup_directories(root: Path, proc_cgroup: Path) -> tuple[Path, Path]:
    """This process's cgroup v2 and v1 memory directories under `root`.

    In a container (its own cgroup namespace) both are the root itself; on a
    host, /proc/self/cgroup names the process's own group below the root.
    """
    v2, v1 = root, root / "memory"
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return v2, v1
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.strip("/")
        if not relative:
            continue
        if controllers == "" and (root / relative / "memory.current").exists():
            v2 = root / relative
        elif "memory" in controllers.split(",") and (root / "memory" / relative).is_dir():
            v1 = root / "memory" / relative
    return v2, v1


def system_reader(
    root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
) -> Callable[[], Reading]:
    """The first source with a limit: cgroup v2, then v1, else the host."""
    v2, v1 = cgroup_directories(root, proc_cgroup)

    def read() -> Reading:
        for reading in (read_cgroup_v2(v2), read_cgroup_v1(v1)):
            if reading is not None and reading.limit:
                return reading
        return read_host()

    return read


class History:
    """The last few minutes of (time, RSS, pressure), oldest first.

    A ring of three preallocated arrays rather than a deque of Samples: a
    fixed 24 bytes per entry instead of an object graph per sample, and no
    allocation per sample, so the sampler does not show up as growth in the
    leak checks of memory/testing.py.
    """

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self.at = array("d", bytes(8 * maxlen))
        self.rss = array("q", bytes(8 * maxlen))
        self.pressure = array("d", bytes(8 * maxlen))
        self.start = self.size = 0

    def append(self, sample: Sample) -> None:
        index = (self.start + self.size) % self.maxlen
        if self.size == self.maxlen:  # full: overwrite the oldest
            self.start = (self.start + 1) % self.maxlen
        else:
            self.size += 1
        self.at[index], self.rss[index] = sample.at, sample.rss
        self.pressure[index] = sample.pressure

    def clear(self) -> None:
        self.start = self.size = 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[float, int, float]]:
        for offset in range(self.size):
            index = (self.start + offset) % self.maxlen
            yield self.at[index], self.rss[index], self.pressure[index]


def read_rss() -> int:
    return psutil.Process().memory_info().rss


class MemoryProbe:
    """Samples in the background; `latest` is what everything else reads."""

    def __init__(
        self,
        interval_ms: int,
        limit_mb: int | None = None,
        read_system: Callable[[], Reading] | None = None,
        read_process_rss: Callable[[], int] = read_rss,
    ) -> None:
        self.interval = interval_ms / 1000
        self.process_limit = limit_mb * MB if limit_mb else None
        self.read_system = read_system or system_reader()
        self.read_process_rss = read_process_rss
        self.history = History(max(1, int(HISTORY_SECONDS / self.interval)))
        self.listeners: list[Callable[[Sample], None]] = []
        self.latest = self.sample()

    def sample(self) -> Sample:
        """Read every source now, record the sample and tell the listeners."""
        system = self.read_system()
        rss = self.read_process_rss()
        pressure, source, limit = system.percent or 0.0, system.source, system.limit
        if self.process_limit:
            process_pressure = 100.0 * rss / self.process_limit
            if process_pressure > pressure:
                pressure, source, limit = process_pressure, "process", self.process_limit
        sample = Sample(time.time(), rss, pressure, source, limit, system)
        self.latest = sample
        self.history.append(sample)
        for listener in self.listeners:
            listener(sample)
        return sample

    def restart(self) -> None:
        """Forget earlier samples (a forked worker's come from its parent) and sample now."""
        self.history.clear()
        self.sample()

    async def run(self) -> None:
        """The sampler task: started by the app's lifespan, cancelled at shutdown."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.sample()
            except Exception:  # a sampler that dies would leave the guard blind
                logger.exception("memory sample failed")
