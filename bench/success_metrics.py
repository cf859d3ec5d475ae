"""The guide's success metrics as a team would check them on its own
deployment: the generated `loadtest` (50 users, one request a second each,
60 s, the mix of every resource) against one worker on its own core, then
`serve --workers 2`, with every default on, the rate limits included; each
run's verdicts beside the guide's thresholds and the load generator's cost.
"""

from bench.load import LOAD_CPU, SERVER_CPU, loadtest

DEFAULT_LIMITS = {"RATE_LIMIT_ENABLED": "true"}  # the bench turns them off elsewhere


def phase_success_metrics(service, *, users: int, seconds: float) -> dict:
    results: dict = {"users": users, "seconds": seconds}
    for workers, cpu in ((1, SERVER_CPU), (2, None)):
        service.start("--workers", str(workers), cpu=cpu, env=DEFAULT_LIMITS)
        try:
            # Beside one pinned worker the load takes the other core; two
            # workers need both, so the load shares them.
            report = loadtest(
                service,
                f"--users={users}",
                f"--duration={seconds}",
                cpu=None if cpu is None else LOAD_CPU,
            )
        finally:
            service.stop()
        results[f"{workers}_workers"] = _summary(report)
    return results


def _summary(report: dict) -> dict:
    f = report["figures"]
    return {
        "requests": f["requests"],
        "requests_per_second": f["requests_per_second"],
        "rate_limited": f["rate_limited"],
        "server_errors": f["server_errors"],
        "no_answer": f["no_answer"],
        "success_percent": f["success_percent"],
        "latency_ms": f["latency_ms"],
        "workers": [
            {"average_mib": w["average_mib"], "peak_mib": w["peak_mib"]}
            for w in f["memory"]["workers"].values()
        ],
        "memory_errors": f["memory"]["memory_errors"],
        "verdicts": {v["metric"]: v["verdict"] for v in report["verdicts"]},
        "load_generator": report["load_generator"],
    }
