"""What the load saw: every answer's status and time, per route, and the
figures the guide's success metrics are read from.

A 429 is the rate limiter's answer, not a failure of the service: counted
apart, out of the success rate, and reported on its own.
"""

import statistics
from array import array
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Stats:
    seconds: "array[float]" = field(default_factory=lambda: array("d"))  # every answered request's
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # no answer: the exception
    by_route: Counter[str] = field(default_factory=Counter)
    failed_routes: Counter[str] = field(default_factory=Counter)
    left: int = 0  # 403s of finding out what a user may not write

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def enough(self, limit: int | None) -> bool:
        return limit is not None and self.requests >= limit

    def answered(self, route: str, status: int, seconds: float) -> None:
        self.seconds.append(seconds)
        self.statuses[status] += 1
        self.by_route[route] += 1
        if not (200 <= status < 400 or status == 429):
            self.failed_routes[f"{route} {status}"] += 1

    def failed(self, route: str, error: str, seconds: float) -> None:
        self.errors[error] += 1
        self.by_route[route] += 1
        self.failed_routes[f"{route} {error}"] += 1

    def left_out(self) -> None:
        self.left += 1

    @property
    def limited(self) -> int:
        return self.statuses[429]

    @property
    def succeeded(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 400)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def success_percent(self) -> float:
        counted = self.requests - self.limited
        return 100.0 * self.succeeded / counted if counted else 0.0

    def percentiles_ms(self) -> dict[str, float]:
        if len(self.seconds) < 2:
            return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
        cuts = statistics.quantiles(self.seconds, n=100, method="inclusive")
        return {f"p{q}": round(cuts[q - 1] * 1000, 1) for q in (50, 95, 99)}
