"""How a figure measured over several runs is recorded: its median and range."""

import statistics


def median_range(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": values,
    }
