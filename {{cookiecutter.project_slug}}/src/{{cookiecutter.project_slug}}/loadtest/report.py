"""The guide's success metrics from a load's figures: each beside its
threshold, PASS or FAIL, as text for a person or JSON for CI."""

from dataclasses import dataclass
from typing import Any

LIMITER_SHARE = 0.01  # more 429s than this: the limiter, not the service, set the pace


@dataclass(frozen=True)
class Thresholds:
    min_success: float = 99.9  # percent of requests answered 2xx/3xx, 429s apart
    max_p95_ms: float = 2000.0
    max_memory_mb: float = 400.0  # average RSS of each worker, MiB


def verdicts(figures: dict[str, Any], limits: Thresholds) -> list[dict[str, Any]]:
    memory = figures["memory"]
    average = memory["average_mib"]
    return [
        _metric("success", figures["success_percent"], f">= {limits.min_success} %", figures["success_percent"] >= limits.min_success),
        _metric("p95", figures["latency_ms"]["p95"], f"<= {limits.max_p95_ms:g} ms", figures["latency_ms"]["p95"] <= limits.max_p95_ms),
        _metric("memory", average, f"<= {limits.max_memory_mb:g} MiB average per worker", None if average is None else average <= limits.max_memory_mb),
        _metric("MemoryError", memory["memory_errors"], "0", memory["memory_errors"] == 0),
    ]  # fmt: skip


def _metric(name: str, value: Any, target: str, passed: bool | None) -> dict[str, Any]:
    verdict = "n/a" if passed is None else "PASS" if passed else "FAIL"
    return {"metric": name, "value": value, "target": target, "verdict": verdict}


def failed(results: dict[str, Any]) -> bool:
    return any(v["verdict"] == "FAIL" for v in results["verdicts"])


def limiter_note(figures: dict[str, Any]) -> str | None:
    limited, requests = figures["rate_limited"], figures["requests"]
    if not requests or limited / requests <= LIMITER_SHARE:
        return None
    return (
        f"{limited:,} of {requests:,} requests ({limited / requests:.1%}) were answered 429: "
        "the rate limiter, not the service, set the pace (RATE_LIMIT_DEFAULT is per user: "
        "more users, a lower --rate, or a limit configured for the test)"
    )


def text(results: dict[str, Any]) -> str:
    f, m, lat = results["figures"], results["figures"]["memory"], results["figures"]["latency_ms"]
    own = results["load_generator"]
    lines = [
        f"{f['requests']:,} requests in {f['seconds']:.0f} s ({f['requests_per_second']:,.0f}/s) by {f['users']} users",
        f"  answered 2xx/3xx {f['succeeded']:,}, 429 {f['rate_limited']:,}, other 4xx {f['client_errors']:,}, 5xx {f['server_errors']:,}, no answer {f['no_answer']:,}",
        f"  left out: {f['left_out']:,} (403: writes that are an administrator's; 404: rows another user deleted)",
        f"  latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms",
        f"  shed by the memory guard {m['requests_shed']:,}, MemoryErrors {m['memory_errors']:,}",
    ]  # fmt: skip
    for pid, worker in m["workers"].items():
        lines.append(
            f"  worker {pid}: RSS average {worker['average_mib']} MiB, peak {worker['peak_mib']} MiB"
        )
    if m["unread"]:
        lines.append(f"  memory not read: {m['unread']}")
    if f["failures"]:
        lines.append(
            "  failed: " + ", ".join(f"{route} x{n}" for route, n in f["failures"].items())
        )
    lines.append(
        f"  load generator: {own['cpu_percent']:.0f}% of one core, peak RSS {own['peak_rss_mib']} MiB"
    )
    if note := limiter_note(f):
        lines.append("  note: " + note)
    for v in results["verdicts"]:
        lines.append(f"{v['verdict']:>4}  {v['metric']}: {v['value']} (target {v['target']})")
    return "\n".join(lines)
