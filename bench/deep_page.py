"""Deep pages: the first page of the admin list against an offset page and a
keyset page at the same depth, 50 rows each.

The keyset page's cursor comes from the API itself: the offset page that
ends at that depth carries it as `pagination.next_cursor`. All three skip
the COUNT (with_total=false), so they compare the page queries alone.
"""

import statistics
import time

from bench.client import get_json, request

PAGE = 50
LIST = f"/api/admin/bookings?page_size={PAGE}&with_total=false"
WARMUP = 5


def timed_ms(port: int, paths: dict[str, str], headers: dict, repeat: int) -> dict[str, float]:
    """Median latency per path. Requests are interleaved (a, b, c, a, b, c, ...)
    after a warm-up, so drift on a shared machine hits every path alike."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(repeat + WARMUP):
        for name, path in paths.items():
            started = time.perf_counter()
            code, _ = request(port, "GET", path, headers)
            assert code == 200, (path, code)
            if round_ >= WARMUP:
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def cursor_at(port: int, depth: int, headers: dict) -> str:
    """The cursor of the page that starts after `depth` rows (a multiple of PAGE)."""
    assert depth % PAGE == 0, depth
    page = get_json(port, f"{LIST}&page={depth // PAGE}", headers)
    return page["pagination"]["next_cursor"]


def phase_deep_page(service, *, repeat: int) -> dict:
    depth = min(90_000, service.rows - 100)
    service.start()
    try:
        paths = {
            "first": LIST,
            "offset": f"{LIST}&page={depth // PAGE + 1}",
            "keyset": f"{LIST}&cursor={cursor_at(service.port, depth, service.headers)}",
        }
        med = timed_ms(service.port, paths, service.headers, repeat)
    finally:
        service.stop()
    return {
        "depth": depth,
        "first_page_ms": med["first"],
        "offset_deep_ms": med["offset"],
        "keyset_deep_ms": med["keyset"],
        "keyset_over_first": med["keyset"] / med["first"],
        "offset_over_first": med["offset"] / med["first"],
    }
