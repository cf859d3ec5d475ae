"""Virtual users: each holds its own token and walks the mix (mix.py) at its
own pace, remembering what it listed and created, as a client of the API would.

Rows a user creates it updates and deletes again, so a long run leaves the
tables as it found them. Exports are spaced (EXPORT_EVERY_SECONDS) below the
per-user export limit; the rest of the pace is the caller's (--rate).
"""

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from .mix import Resource, sample
from .stats import Stats

EXPORT_EVERY_SECONDS = 7.0  # exports are limited to 10 a minute per user
KEEP_IDS = 20  # ids a user remembers per resource (listed or created)
# How often each kind of request is picked, when the user can make it.
WEIGHTS = {"list": 30, "next": 15, "read": 20, "create": 12, "update": 8, "delete": 12, "export": 3}


@dataclass
class Plan:
    """When a user stops: a time, a count of requests (whichever comes first)."""

    deadline: float
    requests: int | None
    stats: Stats
    pace: float  # seconds between one user's requests (0: back to back)


@dataclass
class VirtualUser:
    client: httpx.AsyncClient
    stats: Stats
    token: str
    resources: list[Resource]
    rng: random.Random
    seen: dict[str, deque[Any]] = field(default_factory=dict)
    created: dict[str, deque[Any]] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    next_export: float = 0.0

    async def run(self, plan: Plan) -> None:
        while time.monotonic() < plan.deadline and not plan.stats.enough(plan.requests):
            started = time.monotonic()
            await self.step()
            if plan.pace:
                pause = started + plan.pace * self.rng.uniform(0.5, 1.5)
                await asyncio.sleep(max(0.0, min(pause, plan.deadline) - time.monotonic()))

    async def step(self) -> None:
        """A kind of request by its weight, then a resource that can take it:
        a resource with lists only does not take a share of every kind."""
        able = {kind: [r for r in self.resources if self._can(kind, r)] for kind in WEIGHTS}
        kinds = [kind for kind, resources in able.items() if resources]
        kind = self.rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
        await getattr(self, kind)(self.rng.choice(able[kind]))

    def _can(self, kind: str, r: Resource) -> bool:
        own = self.created.get(r.prefix, ())
        return {
            "list": bool(r.lists),
            "next": any(path in self.cursors for path in r.lists),
            "read": r.readable and bool(self.seen.get(r.prefix) or own),
            "create": r.writable,
            "update": r.update is not None and bool(own),
            "delete": r.writable and len(own) > 2,
            "export": r.export is not None and time.monotonic() >= self.next_export,
        }[kind]

    async def list(self, r: Resource) -> None:
        path = self.rng.choice(r.lists)
        # The server's own page size: any size asked for could be over the
        # MAX_PAGE_SIZE of a server this process cannot read the settings of.
        await self._page(r, path, {})

    async def next(self, r: Resource) -> None:
        path = self.rng.choice([p for p in r.lists if p in self.cursors])
        await self._page(r, path, {"cursor": self.cursors.pop(path)})

    async def _page(self, r: Resource, path: str, params: dict[str, Any]) -> None:
        answer = await self.call("GET", path, params=params, name=f"GET {path}")
        if answer is None or answer.status_code != 200:
            return
        page = answer.json()
        ids = [item["id"] for item in page.get("items", []) if "id" in item]
        seen = self.seen.setdefault(r.prefix, deque(maxlen=KEEP_IDS))
        seen.extend(i for i in ids[:5] if i not in seen)
        if cursor := page.get("pagination", {}).get("next_cursor"):
            self.cursors[path] = cursor

    async def read(self, r: Resource) -> None:
        own = self.created.get(r.prefix, deque())
        row = self.rng.choice([*self.seen.get(r.prefix, ()), *own])
        # A row another user listed may be gone since (its owner deleted it):
        # its 404 is an answer the service owes, not a failure.
        gone = 0 if row in own else 404
        await self.call("GET", _item(r, row), name=f"GET {r.item}", allow=gone)

    async def create(self, r: Resource) -> None:
        assert r.create is not None
        body = sample(r.create, self.rng)
        answer = await self.call("POST", r.prefix, json=body, name=f"POST {r.prefix}", allow=403)
        if answer is not None and answer.status_code == 201:
            self.created.setdefault(r.prefix, deque()).append(answer.json()["id"])
        elif answer is not None and answer.status_code == 403:
            self.forbid(r)

    async def update(self, r: Resource) -> None:
        assert r.create is not None and r.update is not None
        body = sample(r.create, self.rng)
        body = {k: v for k, v in body.items() if k in r.update.model_fields}
        row = self.rng.choice(self.created[r.prefix])
        await self.call("PATCH", _item(r, row), json=body, name=f"PATCH {r.item}")

    async def delete(self, r: Resource) -> None:
        row = self.created[r.prefix].popleft()
        if r.prefix in self.seen:  # listed, perhaps more than once: never read again
            self.seen[r.prefix] = deque((i for i in self.seen[r.prefix] if i != row), KEEP_IDS)
        await self.call("DELETE", _item(r, row), name=f"DELETE {r.item}")

    async def export(self, r: Resource) -> None:
        assert r.export is not None
        self.next_export = time.monotonic() + EXPORT_EVERY_SECONDS
        await self.call("GET", r.export, name=f"GET {r.export}")

    def forbid(self, r: Resource) -> None:
        """Not this user's to write (a resource administrators write): the
        user reads it only, and nothing of it counts as failed."""
        self.resources = [
            other
            if other is not r
            else Resource(r.prefix, r.admin, r.lists, r.item, r.item_methods, r.export)
            for other in self.resources
        ]

    async def call(
        self, method: str, path: str, *, name: str, allow: int = 0, **kwargs: Any
    ) -> httpx.Response | None:
        """The answer, timed and counted; `allow`: a status that leaves the
        request out of the success rate (403: finding out what is not ours;
        404: a row another user has deleted)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        started = time.perf_counter()
        try:
            answer = await self.client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self.stats.failed(name, type(exc).__name__, time.perf_counter() - started)
            return None
        seconds = time.perf_counter() - started
        if answer.status_code == allow:
            self.stats.left_out()
        else:
            self.stats.answered(name, answer.status_code, seconds)
        return answer


def _item(r: Resource, row: Any) -> str:
    assert r.item is not None
    return r.item.replace("{id}", str(row))
