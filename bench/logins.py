"""A burst of logins on one worker: what bounding password hashes saves.

argon2id holds PASSWORD_HASH_MEMORY_KIB (19 MiB by default) per hash while
it runs. 100 clients log in at once, against one uvicorn worker with the
default bound (PASSWORD_HASH_CONCURRENCY=2) and with the bound lifted
(100: then only the thread pool limits it). Per run: the peak RSS growth
of the worker (VmHWM after a reset, so no sample can miss the peak), how
many logins succeeded, and their p50/p95 latency.
"""

import concurrent.futures
import http.client
import statistics
import time
import urllib.parse

from bench.procmem import MIB, PeakGrowth

EMAIL = "bench-login@example.org"
PASSWORD = "bench password, long enough"
CLIENTS = 100
BOUNDS = {"bounded": "2", "unbounded": "100"}


def _login(port: int) -> tuple[int, float]:
    body = urllib.parse.urlencode({"username": EMAIL, "password": PASSWORD})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/api/auth/token", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        conn.close()


def _burst(port: int) -> list[tuple[int, float]]:
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(lambda _: _login(port), range(CLIENTS)))


def _one_run(service, concurrency: str) -> dict:
    service.start(
        env={"PASSWORD_HASH_CONCURRENCY": concurrency, "PASSWORD_HASH_WAIT_SECONDS": "120"}
    )
    try:
        assert _login(service.port)[0] == 200  # argon2 and the login route loaded
        with PeakGrowth(service.pid) as growth:
            results = _burst(service.port)
    finally:
        service.stop()
    seconds = sorted(elapsed for _, elapsed in results)
    return {
        "growth_mib": growth.growth / MIB,
        "succeeded": sum(status == 200 for status, _ in results),
        "p50_ms": statistics.median(seconds) * 1000,
        "p95_ms": seconds[int(len(seconds) * 0.95) - 1] * 1000,
    }


def phase_logins(service, *, runs: int) -> dict:
    service.run("create-user", EMAIL, "--password", "--new-token-if-exists", stdin=PASSWORD + "\n")
    measured: dict[str, list[dict]] = {name: [] for name in BOUNDS}
    for run in range(runs):  # alternate, so drift falls on both alike
        names = list(BOUNDS) if run % 2 == 0 else list(reversed(BOUNDS))
        for name in names:
            measured[name].append(_one_run(service, BOUNDS[name]))
    summary = {
        name: {
            "concurrency": int(BOUNDS[name]),
            "growth_mib": statistics.median(run["growth_mib"] for run in runs_),
            "succeeded": min(run["succeeded"] for run in runs_),
            "p95_ms": statistics.median(run["p95_ms"] for run in runs_),
            "p50_ms": statistics.median(run["p50_ms"] for run in runs_),
            "runs": runs_,
        }
        for name, runs_ in measured.items()
    }
    memory_cost_mib = 19  # PASSWORD_HASH_MEMORY_KIB's default, in MiB
    target = int(BOUNDS["bounded"]) * memory_cost_mib + 10
    return {"clients": CLIENTS, "target_growth_mib": target, **summary}
