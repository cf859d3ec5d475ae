"""The benchmark's quick mode runs end to end, so the benchmark cannot rot.

It checks that every phase produced a number, not what the numbers are:
timings belong to the benchmark, never to the tests.
"""

import json
import subprocess
import sys

from tests.conftest import REPO


def test_quick_benchmark_runs(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--quick",
            "--out",
            str(out),
            "--work",
            str(work),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    phases = results["phases"]
    assert phases["idle"]["rss_mib"]["median"] > 0
    assert phases["idle"]["floor_rss_mib"]["median"] > 0
    assert phases["routers"]["idle_rss_mib"]["eager"] > phases["routers"]["idle_rss_mib"]["none"]
    assert phases["routers"]["lazy_first_request_ms"] > 0
    assert phases["workers"]["gunicorn_pss_mib"] > 0 and phases["workers"]["uvicorn_pss_mib"] > 0
    assert phases["guard"]["health"]["rps_with"] > 0 and phases["guard"]["list"]["rps_without"] > 0
    for size in ("10", "50"):
        assert phases["lists"][size]["service"]["rps"] > 0
        assert phases["lists"][size]["floor"]["p95_ms"] > 0
    assert phases["ab"]["1_workers"]["requests"] == 1000
    assert phases["ab"]["2_workers"]["requests"] == 1000
    assert phases["lists"]["own 50"]["stack"]["cpu_ms_per_request"] > 0
    assert phases["naive"]["naive"]["peak_rss_mib"] > 0
    assert phases["deep_page"]["keyset_deep_ms"] > 0
    # Three formats, each plain and gzipped, at two table sizes.
    assert len(phases["exports"]) == 12
    assert phases["database_floor"]["service_csv_rows_per_second"] > 0
    assert all(export["rows_per_second"] > 0 for export in phases["exports"].values())
    # The exports held to the database's speed ran in turn with its COPYs.
    exports = phases["exports"]
    assert exports["20,000 rows csv"]["text_copy"]["rows_per_second"] > 0
    assert exports["20,000 rows ndjson"]["service_ndjson_copy"]["rows_per_second"] > 0
    assert "text_copy" not in exports["20,000 rows csv gzip"]
    assert phases["upload"]["mib_per_second"] > 0
    counters = phases["rate_counters"]
    assert counters["local_counters"]["10000"] > 0 and counters["limits_memory"]["1"] > 0
    # The front door: every hostile load ran and was answered.
    door = phases["front_door"]
    assert door["bursts"]["anonymous_13mib_sized"]["statuses"]
    assert door["slow_bodies"]["statuses"] and door["connections"]["statuses"]
    assert door["stalled_exports"]["other_user_status"]
    assert door["redis_freeze"]["p50_normal_ms"] > 0
    assert "| measure | result | target |" in (out / "results.md").read_text()


# A leak of 250 bytes a request: far above what the full soak holds the
# service to (0.5 MiB, about 5 bytes a request), far below a gross one.
GROSS_LEAK_MIB_PER_100K = 25


def test_a_short_soak_finds_no_gross_leak(tmp_path):
    """Two minutes of the soak (bench/soak.py; the full one runs 20): one
    worker under the service's own mixed load, its RSS flat in the second half."""
    from bench.run import measure

    figures, _charts = measure(
        ["soak"], "quick", tmp_path / "work", params={"soak": {"seconds": 120}}
    )
    soak = figures["soak"]
    assert soak["requests"] > 0 and soak["server_errors"] == 0, soak
    assert soak["rss_slope_mib_per_100k"] < GROSS_LEAK_MIB_PER_100K, soak["samples"]
