"""Exports whose client stops reading: what they cost everyone else.

One user (the benchmark's administrator) opens STALLED exports of every
booking and reads nothing past the status line; MAX_EXPORTS_PER_USER lets
some in, the rest get 429. Another user's export is then timed (status, time
to its first byte), and the stalled ones are watched until the first user
may export again: how long after they stopped reading, against
EXPORT_STALL_SECONDS (short here, STALL_SECONDS, so a run takes seconds),
and how many PostgreSQL sessions are still inside a transaction afterwards.
"""

import contextlib
import http.client
import socket
import time

from bench.client import request
from bench.figures import median_range
from bench.progress import log
from harness.project import bearer

STALL_SECONDS = 5
STALLED = 4  # every slot of a worker (MAX_CONCURRENT_EXPORTS' default)
# An export must be larger than the socket buffers between the service and
# a reader, or it is written whole into them and never stalls: a few MiB on
# loopback, and a booking is about 370 bytes of NDJSON.
ROWS = 30_000
EXPORT = "/api/admin/bookings/export?format=ndjson"
OTHER_USER = "other@example.org"


def _stop_reading(port: int, headers: dict[str, str]) -> tuple[socket.socket, int]:
    """An export's connection whose status line is read, and nothing more
    (a small receive buffer, so that little is taken)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall(f"GET {EXPORT} HTTP/1.1\r\nHost: bench\r\n{head}\r\n".encode())
    status = int(sock.recv(12).split()[1])
    return sock, status


def _first_byte(port: int, headers: dict[str, str]) -> tuple[int, float]:
    """(status, milliseconds to the first byte of the body) of one export,
    then read whole."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        started = time.perf_counter()
        conn.request("GET", EXPORT, headers=headers)
        response = conn.getresponse()
        response.read(1)
        took = (time.perf_counter() - started) * 1000
        while response.read(1 << 16):
            pass
        return response.status, took
    finally:
        conn.close()


def _sessions_in_transaction(service) -> int:
    return int(service.program("sessions_in_transaction"))


def _until_admitted(service, seconds: float) -> float | None:
    """Seconds until the stalling user's next export is let in (None: not
    within `seconds`)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if request(service.port, "GET", EXPORT, service.headers)[0] == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def _one_run(service, other: dict[str, str]) -> dict:
    with contextlib.ExitStack() as readers:
        statuses = []
        for _ in range(STALLED):
            sock, status = _stop_reading(service.port, service.headers)
            readers.callback(sock.close)
            statuses.append(status)
        stopped = time.monotonic()
        other_status, first_byte_ms = _first_byte(service.port, other)
        held = _sessions_in_transaction(service)
        waited = _until_admitted(service, STALL_SECONDS * 4 + 30)
        ended = None if waited is None else time.monotonic() - stopped
        # The readers are still connected: what is freed, the stall freed.
        left = _sessions_in_transaction(service)
    return {
        "stalled_statuses": statuses,
        "other_user_status": other_status,
        "other_user_first_byte_ms": first_byte_ms,
        "sessions_in_transaction_while_stalled": held,
        "stalled_ended_after_s": ended,
        "sessions_in_transaction_after": left,
    }


def _same(values: list):
    """The value every run had, or all of them when they differ."""
    return values[0] if len(set(values)) == 1 else values


def measure_stalled_exports(service, quick: bool = False) -> dict:
    if service.rows < ROWS:
        log(f"seeding up to {ROWS:,} bookings")
        service.seed(ROWS)
    other = bearer(service.project.token(OTHER_USER, "--admin", timeout=None))
    runs = []
    service.start(env={"EXPORT_STALL_SECONDS": str(STALL_SECONDS)})
    try:
        for _ in range(1 if quick else 3):
            runs.append(_one_run(service, other))
    finally:
        service.stop()
    ended = [run["stalled_ended_after_s"] for run in runs]
    return {
        "stall_seconds": STALL_SECONDS,
        "rows": service.rows,
        "stalled_statuses": runs[0]["stalled_statuses"],
        "other_user_status": _same([run["other_user_status"] for run in runs]),
        "other_user_first_byte_ms": median_range([run["other_user_first_byte_ms"] for run in runs]),
        "sessions_in_transaction_while_stalled": min(
            run["sessions_in_transaction_while_stalled"] for run in runs
        ),
        "stalled_ended_after_s": median_range(ended) if None not in ended else None,
        "connections_left": max(run["sessions_in_transaction_after"] for run in runs),
    }
