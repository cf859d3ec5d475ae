"""The benchmark's phases, in the order a run measures them: each one's
function and its parameters for a full run and for --quick.

A phase takes the service (bench/service.py) and its parameters, and
returns its figures, kept under its name in results.json. Those marked
`alone` may also be measured by themselves (--only), with the full
parameters, on the full run's rows.
"""

from collections.abc import Callable
from dataclasses import dataclass

from bench.database_floor import phase_database_floor
from bench.deep_page import phase_deep_page
from bench.exports import phase_exports
from bench.front_door import phase_front_door
from bench.guard import phase_guard
from bench.idle import phase_idle
from bench.logins import phase_logins
from bench.rate_counters import phase_rate_counters
from bench.recycling import phase_recycling
from bench.soak import phase_soak
from bench.startup import phase_routers
from bench.success_metrics import phase_success_metrics
from bench.throughput import phase_ab, phase_lists, phase_naive
from bench.tls import phase_tls
from bench.upload import phase_upload
from bench.workers import phase_workers

RUNS = {"full": 3, "quick": 1}
ROWS = {"full": 100_000, "quick": 10_000}  # bookings seeded before the first phase


@dataclass(frozen=True)
class Phase:
    measure: Callable[..., dict]
    full: dict
    quick: dict | None  # None: not in a --quick run
    alone: bool = False


PHASES = {
    "idle": Phase(phase_idle, {"runs": 3}, {"runs": 1}, alone=True),
    "routers": Phase(phase_routers, {"runs": 3}, {"runs": 1}),
    "workers": Phase(
        phase_workers, {"runs": 3, "load_seconds": 5}, {"runs": 1, "load_seconds": 2}, alone=True
    ),
    "guard": Phase(phase_guard, {"seconds": 10, "runs": 3}, {"seconds": 2, "runs": 1}, alone=True),
    "lists": Phase(
        phase_lists,
        {"seconds": 15, "warmup": 3, "runs": 3},
        {"seconds": 2, "warmup": 1, "runs": 1},
        alone=True,
    ),
    "ab": Phase(phase_ab, {}, {}, alone=True),
    # Two minutes of the generated loadtest: in full runs, not in --quick.
    "success_metrics": Phase(phase_success_metrics, {"users": 50, "seconds": 60}, None, alone=True),
    # A minute of load recycling two workers: in full runs, not in --quick.
    "recycling": Phase(phase_recycling, {"seconds": 60}, None, alone=True),
    "naive": Phase(phase_naive, {"seconds": 15}, {"seconds": 3}),
    "deep_page": Phase(phase_deep_page, {"repeat": 30}, {"repeat": 10}, alone=True),
    # Seeds the table up to big_rows: the phases after it measure those rows.
    "exports": Phase(
        phase_exports,
        {"runs": 3, "big_rows": 1_000_000},
        {"runs": 1, "big_rows": 20_000},
        alone=True,
    ),
    "database_floor": Phase(phase_database_floor, {"runs": 3}, {"runs": 1}, alone=True),
    "upload": Phase(phase_upload, {"size_mib": 1024, "runs": 3}, {"size_mib": 64, "runs": 1}),
    "logins": Phase(phase_logins, {"runs": 3}, {"runs": 1}, alone=True),
    "rate_counters": Phase(phase_rate_counters, {}, {}, alone=True),
    "tls": Phase(phase_tls, {"runs": 3}, {"runs": 1}),
    "front_door": Phase(
        phase_front_door,
        {
            "slow_bodies": 3000,
            "slow_seconds": 20,
            "connections": 1100,
            "open_files": 1024,
            "redis_seconds": 30,
            "quick": False,
        },
        {
            "slow_bodies": 300,
            "slow_seconds": 12,
            "connections": 300,
            "open_files": 256,
            "redis_seconds": 5,
            "quick": True,
        },
        alone=True,
    ),
    # Minutes of load on one worker: in full runs and alone, never in --quick.
    "soak": Phase(phase_soak, {"seconds": 1200}, None, alone=True),
}
