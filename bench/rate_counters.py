"""The cost of one rate-limit hit in a worker's own counters, by how many
clients they hold: limits' async MemoryStorage against local_counters.py
(bench/programs/rate_counters.py, run with the service's interpreter)."""

import json

FLAT_BOUND = 3.0  # a hit with 10,000 clients counted, at most this times one with one


def phase_rate_counters(service) -> dict:
    figures = json.loads(service.program("rate_counters", service.slug))
    return {**figures, "bound": FLAT_BOUND}
