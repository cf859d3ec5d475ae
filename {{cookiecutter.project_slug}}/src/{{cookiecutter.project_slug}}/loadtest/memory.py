"""The server's memory while it is under load, read from /health/memory
(an administrator's token or METRICS_TOKEN): every worker's RSS from the
history every worker writes (memory/workers.py), and the guard's counters
(requests shed, MemoryErrors recovered) of each worker that answered.
"""

import asyncio
import contextlib
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

POLL_SECONDS = 2.0


@dataclass
class MemoryWatch:
    client: httpx.AsyncClient
    path: str  # API_PREFIX + /health/memory
    token: str | None
    rss: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    counters: dict[int, dict[str, int]] = field(default_factory=dict)
    first: dict[int, dict[str, int]] = field(default_factory=dict)
    refused: str | None = None  # why memory could not be read

    async def poll(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            now = await self.client.get(self.path, headers=headers)
            history = await self.client.get(self.path + "/history", headers=headers)
        except httpx.HTTPError as exc:
            self.refused = f"{self.path}: {type(exc).__name__}"
            return
        if now.status_code != 200 or history.status_code != 200:
            self.refused = f"{self.path} answered {now.status_code} (an administrator's token or METRICS_TOKEN reads it)"
            return
        self.refused = None
        body = now.json()
        pid = history.json()["pid"]
        self.counters[pid] = body["counters"]
        self.first.setdefault(pid, body["counters"])
        for worker in history.json()["workers"]:
            if worker["samples"]:
                self.rss[worker["pid"]].append(worker["samples"][-1][1])

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)

    def counted(self, name: str) -> int:
        """`name` counted by the workers during the load (those that answered)."""
        return sum(self.counters[pid][name] - self.first[pid][name] for pid in self.counters)

    def report(self) -> dict[str, Any]:
        workers = {
            pid: {
                "average_mib": round(statistics.fmean(s), 1),
                "peak_mib": max(s),
                "samples": len(s),
            }
            for pid, s in sorted(self.rss.items())
            if s
        }
        return {
            "workers": workers,
            "average_mib": max((w["average_mib"] for w in workers.values()), default=None),
            "peak_mib": max((w["peak_mib"] for w in workers.values()), default=None),
            "requests_shed": self.counted("requests_shed"),
            "memory_errors": self.counted("memory_errors_recovered"),
            "unread": self.refused if not workers else None,
        }
