"""`loadtest`: the guide's success metrics measured on a running service.

Virtual users, each with its own token, walk the mix the router registry
serves (mix.py, users.py) for a time or a count of requests, while the
server's memory is read from /health/memory (memory.py); the figures are
held to the guide's thresholds (report.py). httpx's async client drives the
load: one event loop, a few MiB, its own CPU and memory reported beside it.
"""

import asyncio
import contextlib
import random
import resource
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..settings import Settings
from .report import Thresholds, failed, text, verdicts
from .stats import Stats

if TYPE_CHECKING:  # imported when the load starts, not with the command line
    import httpx

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
PROGRESS_SECONDS = 5.0


async def _tokens(settings: Settings, url: str, users: int, token_file: Path | None) -> list[str]:
    from .tokens import file_tokens, local_tokens

    if token_file is not None:
        return file_tokens(token_file, users)
    if urlsplit(url).hostname not in LOCAL_HOSTS:
        raise ValueError(f"{url} is not this machine: give its users' tokens with --token-file")
    return await local_tokens(settings, users)


async def _progress(stats: Stats, started: float, total: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PROGRESS_SECONDS)
        elapsed = time.monotonic() - started
        print(
            f"\r{elapsed:5.0f}/{total:.0f} s  {stats.requests:,} requests  "
            f"{stats.requests / elapsed:,.0f}/s  success {stats.success_percent():.2f}%  "
            f"429 {stats.limited:,}  5xx {stats.server_errors:,}",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)


async def drive(
    settings: Settings,
    args: Any,
    *,
    tokens: list[str] | None = None,
    transport: "httpx.AsyncBaseTransport | None" = None,
) -> dict[str, Any]:
    """The load's results; `tokens` and `transport` (an app in this process) for tests."""
    import httpx

    from .memory import MemoryWatch
    from .mix import discover
    from .users import Plan, VirtualUser

    url = args.url.rstrip("/")
    tokens = tokens or await _tokens(settings, url, args.users, args.token_file)
    resources = discover()
    stats, rng = Stats(), random.Random(args.seed)
    limits = httpx.Limits(max_connections=args.users + 2, max_keepalive_connections=args.users + 2)
    async with httpx.AsyncClient(
        base_url=url + settings.api_prefix, limits=limits, timeout=30, transport=transport
    ) as client:
        operator = (
            settings.metrics_token.get_secret_value() if settings.metrics_token else tokens[0]
        )
        watch = MemoryWatch(client, "/health/memory", operator)
        await watch.poll()
        users = [
            VirtualUser(client, stats, token, [r for r in resources if index == 0 or not r.admin], random.Random(rng.random()))
            for index, token in enumerate(tokens)
        ]  # fmt: skip
        started, cpu = time.monotonic(), time.process_time()
        plan = Plan(
            started + args.duration, args.requests, stats, 1 / args.rate if args.rate else 0.0
        )
        stop = asyncio.Event()
        side = [
            asyncio.create_task(watch.watch(stop)),
            asyncio.create_task(_progress(stats, started, args.duration, stop)),
        ]
        await asyncio.gather(*(user.run(plan) for user in users))
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
        stop.set()
        await asyncio.gather(*side)
        await watch.poll()
    return _results(stats, watch.report(), args, seconds, cpu)


def _results(
    stats: Stats, memory: dict[str, Any], args: Any, seconds: float, cpu: float
) -> dict[str, Any]:
    statuses = stats.statuses
    figures = {
        "users": args.users,
        "seconds": round(seconds, 1),
        "requests": stats.requests,
        "requests_per_second": round(stats.requests / seconds, 1),
        "succeeded": stats.succeeded,
        "success_percent": round(stats.success_percent(), 3),
        "rate_limited": stats.limited,
        "client_errors": sum(n for s, n in statuses.items() if 400 <= s < 500 and s != 429),
        "server_errors": stats.server_errors,
        "no_answer": sum(stats.errors.values()),
        # 403s finding out what only administrators write, 404s of rows
        # another user deleted: out of the success rate.
        "left_out": stats.left,
        "latency_ms": stats.percentiles_ms(),
        "by_route": dict(stats.by_route.most_common()),
        "failures": dict(stats.failed_routes.most_common(10)),
        "memory": memory,
    }
    limits = Thresholds(args.min_success, args.max_p95_ms, args.max_memory_mb)
    return {
        "url": args.url,
        "figures": figures,
        "verdicts": verdicts(figures, limits),
        "load_generator": {
            "cpu_percent": round(100 * cpu / seconds, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
    }


def main(settings: Settings, args: Any) -> None:
    import json

    try:
        results = asyncio.run(drive(settings, args))
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    print(json.dumps(results, indent=2) if args.json else text(results))
    if failed(results):
        sys.exit(1)
