"""The front door: what hostile or careless clients cost before the service
pays for them, each figure beside its bound.

- bursts of large JSON and form bodies, anonymous and signed in: peak RSS
  growth, every answer 4xx, and RSS back near where it started;
- thousands of bodies trickling from one address: nobody else gets a 5xx or
  waits, the slow ones cut by the deadline;
- more connections than the open-file limit allows: 503 or queued, no 500;
- exports a client stops reading, and Redis frozen (bench/stalled_exports.py,
  bench/redis_freeze.py).
"""

import asyncio
import contextlib
import resource
import statistics
import threading
import time
from collections import Counter

from bench.load import wrk
from bench.procmem import MIB, PeakGrowth, status

BURST = 8  # bodies sent at once
ANONYMOUS_MIB = 13
JSON_LIMIT = 1 << 20  # the service's MAX_JSON_BODY_KB default
PIECE = 64 << 10
SETTLED_WITHIN_MIB = 10
SETTLE_SECONDS = 5.0
LIST = "/api/admin/bookings?page_size=10&with_total=false"


# ---------------------------------------------------------------- raw client


async def exchange(
    port: int, head: bytes, body: bytes | None = None, *, source: str = "127.0.0.1"
) -> int:
    """Send a request head, then its body in pieces until the server answers;
    the answer's status (0: the connection ended with no answer). Stops
    sending as soon as an answer arrives, as a client reading while it sends."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    answer = asyncio.ensure_future(reader.readline())
    try:
        writer.write(head)
        for start in range(0, len(body or b""), PIECE):
            if answer.done():
                break
            writer.write(body[start : start + PIECE])
            await writer.drain()
    except (ConnectionError, OSError):
        pass  # refused while sending: the answer may still be there
    try:
        line = await asyncio.wait_for(answer, 60)
    except (ConnectionError, OSError, TimeoutError):
        line = b""
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return int(line[9:12]) if line.startswith(b"HTTP/1.1 ") else 0


def head(method: str, path: str, media: str, length: int | None, headers: dict) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Content-Type: {media}"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes) -> bytes:
    pieces = (body[i : i + PIECE] for i in range(0, len(body), PIECE))
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _counted(statuses) -> dict[str, int]:
    """{"413": 8}: keyed by text, as results.json keeps them."""
    return {str(code): count for code, count in sorted(Counter(statuses).items())}


# ---------------------------------------------------------------- bursts


def _burst(service, requests: list[tuple[bytes, bytes]]) -> dict:
    """Send `requests` (head, body) at once; peak RSS growth, statuses, and
    how long until RSS is back within SETTLED_WITHIN_MIB of where it began."""

    async def send_all() -> list[int]:
        return await asyncio.gather(*(exchange(service.port, h, b) for h, b in requests))

    with PeakGrowth(service.pid) as peak:
        statuses = asyncio.run(send_all())
    started = time.monotonic()
    settled = None
    while time.monotonic() - started < SETTLE_SECONDS:
        if status(service.pid, "VmRSS") - peak.before <= SETTLED_WITHIN_MIB * MIB:
            settled = time.monotonic() - started
            break
        time.sleep(0.1)
    after = status(service.pid, "VmRSS")
    return {
        "statuses": _counted(statuses),
        "peak_growth_mib": round(peak.growth / MIB, 1),
        "settled_after_s": None if settled is None else round(settled, 2),
        "rss_after_mib_over_start": round((after - peak.before) / MIB, 1),
    }


def _anonymous(sized: bool) -> list[tuple[bytes, bytes]]:
    """Eight 13 MiB bodies to an unknown route, sign-up (off) and the login form."""
    size = ANONYMOUS_MIB * MIB
    json_body = b'{"email":"a@b.org","x":[' + b"{}," * (size // 3) + b"{}]}"
    form_body = b"a=&" * (size // 3)
    targets = [
        ("POST", "/api/nowhere", "application/json", json_body),
        ("POST", "/api/users", "application/json", json_body),
        ("POST", "/api/auth/token", "application/x-www-form-urlencoded", form_body),
    ]
    requests = []
    for index in range(BURST):
        method, path, media, body = targets[index % len(targets)]
        length = len(body) if sized else None
        requests.append((head(method, path, media, length, {}), body if sized else chunked(body)))
    return requests


def _signed_in(service, size: int) -> list[tuple[bytes, bytes]]:
    """Eight bodies of `size` bytes of the worst structure, `[{},{},...]`."""
    body = b"[" + b"{}," * ((size - 3) // 3) + b"{}]"
    body += b" " * (size - len(body))  # JSON allows trailing space: exactly `size`
    request = head("PATCH", "/api/users/me", "application/json", len(body), service.headers)
    return [(request, body)] * BURST


def _signed_in_parsed(service, size: int) -> list[tuple[bytes, bytes]]:
    """Eight bodies of `size` bytes that pass the bounds and are parsed: as
    many values as allowed, each a string whose one emoji makes Python keep
    it at four bytes a character."""
    value = '"\\ud83d\\ude00' + "a" * 90 + '"'  # an escaped emoji, then ASCII
    count = min(9_000, (size - 16) // (len(value) + 1))
    body = ('{"items":[' + ",".join([value] * count) + "]}").encode()
    body += b" " * (size - len(body))
    request = head("PATCH", "/api/users/me", "application/json", len(body), service.headers)
    return [(request, body)] * BURST


def measure_bursts(service) -> dict:
    service.start()
    try:
        figures = {
            "anonymous_13mib_sized": _burst(service, _anonymous(sized=True)),
            "anonymous_13mib_chunked": _burst(service, _anonymous(sized=False)),
            "signed_in_at_json_limit": _burst(service, _signed_in(service, JSON_LIMIT)),
            "signed_in_parsed_at_limit": _burst(service, _signed_in_parsed(service, JSON_LIMIT)),
        }
        over = _signed_in(service, JSON_LIMIT + 1)[:1]
        figures["one_over_json_limit"] = asyncio.run(
            exchange(service.port, over[0][0])  # the head alone: refused before any body
        )
    finally:
        service.stop()
    return figures


# ---------------------------------------------------------------- slow bodies


def _raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


async def _trickle(port: int, request_head: bytes, stop: float) -> tuple[int, float]:
    """A body of 100 bytes sent a byte every 5 s from 127.0.0.2: (status, when)."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.2", 0)
        )
    except OSError:
        return -1, 0.0
    answer = asyncio.ensure_future(reader.readline())
    try:
        writer.write(request_head)
        while not answer.done() and time.monotonic() < stop:
            writer.write(b" ")
            await asyncio.wait([answer], timeout=5)
        line = await asyncio.wait_for(answer, 1) if answer.done() else b""
    except (ConnectionError, OSError, TimeoutError):
        line = b""
    finally:
        writer.close()
    code = int(line[9:12]) if line.startswith(b"HTTP/1.1 ") else 0
    return code, time.monotonic() - started


def measure_slow_bodies(service, count: int, seconds: float) -> dict:
    """`count` trickling bodies from one address while another client lists."""
    _raise_open_files(count + 1024)
    service.start()
    try:
        request_head = head("PATCH", "/api/users/me", "application/json", 100, service.headers)

        async def trickle_all() -> list[tuple[int, float]]:
            stop = time.monotonic() + seconds
            tasks = []
            for _ in range(count):
                tasks.append(asyncio.ensure_future(_trickle(service.port, request_head, stop)))
                await asyncio.sleep(0)
            return await asyncio.gather(*tasks)

        results: list[tuple[int, float]] = []
        runner = asyncio.new_event_loop()
        thread = threading.Thread(
            target=lambda: results.extend(runner.run_until_complete(trickle_all()))
        )
        thread.start()
        time.sleep(1)  # the slow ones connected
        others = wrk(service.server.url(LIST), seconds - 2, 8, service.headers, service.work)
        thread.join()
        runner.close()
    finally:
        service.stop()
    statuses = _counted(code for code, _ in results)
    cut = [took for code, took in results if code == 408]
    return {
        "slow_bodies": count,
        "seconds": seconds,
        "statuses": statuses,
        "cut_after_s_median": round(statistics.median(cut), 1) if cut else None,
        "others": {k: others[k] for k in ("rps", "p50_ms", "p99_ms", "errors")},
    }


# ---------------------------------------------------------------- connections


def measure_connections(service, count: int, open_files: int) -> dict:
    """`count` connections to a server whose open-file limit is `open_files`,
    each then asking for a list page."""
    _raise_open_files(count + 1024)
    service.stop()
    service.server = service.project.serve(
        "--log-level", "warning", prefix=["prlimit", f"--nofile={open_files}:{open_files}"]
    )
    request_head = (
        f"GET {LIST} HTTP/1.1\r\nHost: bench\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in service.headers.items())
        + "\r\n"
    ).encode()

    async def connect_all() -> list[int]:
        opened = []
        for _ in range(count):
            try:
                opened.append(await asyncio.open_connection("127.0.0.1", service.port))
            except OSError:
                opened.append(None)
        codes = []
        for pair in opened:
            if pair is None:
                codes.append(-1)
                continue
            reader, writer = pair
            try:
                writer.write(request_head)
                line = await asyncio.wait_for(reader.readline(), 30)
            except (ConnectionError, OSError, TimeoutError):
                line = b""
            codes.append(int(line[9:12]) if line.startswith(b"HTTP/1.1 ") else 0)
        for pair in opened:
            if pair is not None:
                pair[1].close()
        return codes

    try:
        codes = asyncio.run(connect_all())
    finally:
        service.stop()
    return {"connections": count, "open_files": open_files, "statuses": _counted(codes)}


# ---------------------------------------------------------------- the phase


def phase_front_door(
    service, *, slow_bodies: int, slow_seconds: float, connections: int, open_files: int,
    redis_seconds: float, quick: bool
) -> dict:  # fmt: skip
    from bench.redis_freeze import measure_redis_freeze
    from bench.stalled_exports import measure_stalled_exports

    return {
        "bursts": measure_bursts(service),
        "slow_bodies": measure_slow_bodies(service, slow_bodies, slow_seconds),
        "connections": measure_connections(service, connections, open_files),
        "stalled_exports": measure_stalled_exports(service, quick=quick),
        "redis_freeze": measure_redis_freeze(service, seconds=redis_seconds, quick=quick),
    }
