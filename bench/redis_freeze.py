"""Redis frozen under load: the list's p50 before and during the freeze.

The service counts its rate limits in a redis-server of its own here
(RATE_LIMIT_STORAGE=redis://, with a limit no load reaches), so every
request makes a round trip to it. Frozen with SIGSTOP, Redis keeps its
connections and answers nothing: until the circuit breaker (breaker.py)
opens, a request waits the Redis timeout. Measured: the p50 under wrk
before, and during the freeze once the breaker has opened; after SIGCONT,
whether the service logged that Redis is reachable again.
"""

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

from bench.client import request
from bench.load import SERVER_CPU, installed, pinned, wrk
from harness.server import Server, free_port

LIST = "/api/admin/bookings?page_size=10"
CONNECTIONS = 32
# Rate limits on, as by default, at a rate one client's load never reaches:
# what is measured is the round trip to their store, not 429s.
UNREACHED_LIMIT = "1000000/minute"
# The p50 during the freeze, once the breaker is open, at most this many times the p50 before.
BOUND = 2.0
QUICK_FREEZE_SECONDS = 5.0
# What the service logs (breaker.py) when the breaker opens, and when it closes.
OPENED, RECOVERED = "Redis unreachable", "Redis reachable again"


def measure_redis_freeze(service, seconds: float = 30.0, quick: bool = False) -> dict:
    """p50 of the list under load, before and during `seconds` of frozen Redis."""
    seconds = QUICK_FREEZE_SECONDS if quick else seconds
    load_seconds = 2.0 if quick else 5.0
    headers, work = service.headers, service.work
    service.stop()  # one server at a time
    with redis_server() as (redis, redis_url), _serve(service, redis_url) as server:
        url = server.url(LIST)
        wrk(url, 1, CONNECTIONS, headers, work)  # warm-up: pools, caches, the first requests
        normal = wrk(url, load_seconds, CONNECTIONS, headers, work)
        with frozen(redis):
            # This one waits the Redis timeout, and opens the breaker.
            request(server.port, "GET", LIST, headers)
            opened = _logged(server, OPENED, seconds=5)
            during = wrk(url, max(1.0, seconds - 1), CONNECTIONS, headers, work)
        recovered = _logged(server, RECOVERED, seconds=10)
    return {
        "path": LIST,
        "connections": CONNECTIONS,
        "freeze_seconds": seconds,
        "p50_normal_ms": normal["p50_ms"],
        "p50_frozen_ms": during["p50_ms"],
        "ratio": during["p50_ms"] / normal["p50_ms"],
        "bound": BOUND,
        "rps_normal": normal["rps"],
        "rps_frozen": during["rps"],
        "opened_logged": opened,
        "recovered_logged": recovered,
        # wrk's errors: statuses of 400 and up (with this limit, never a 429)
        # and failed connections, over both loads.
        "errors": normal["errors"] + during["errors"],
    }


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[subprocess.Popen, str]]:
    """A redis-server on a free loopback port, answering PING: (process, URL)."""
    port = free_port()
    argv = [installed("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    process = subprocess.Popen(
        [*argv, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield process, f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def frozen(process: subprocess.Popen) -> Iterator[None]:
    """The process stopped in its tracks (SIGSTOP) until the block ends, whatever happens."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _serve(service, redis_url: str) -> Server:
    """The service as Service.start serves it, with its output kept in a log
    file: the breaker's lines are looked for there."""
    env = {
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_DEFAULT": UNREACHED_LIMIT,
        "RATE_LIMIT_STORAGE": redis_url,
    }
    return service.project.serve(
        "--log-level",
        "warning",
        env=env,
        log=service.work / "redis_freeze.log",
        prefix=pinned([], SERVER_CPU),
    )


def _logged(server: Server, text: str, seconds: float) -> bool:
    """Whether `text` appears in the server's output within `seconds`."""
    deadline = time.monotonic() + seconds
    while text not in server.output():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
