"""A large upload, streamed to disk: throughput and the worker's peak RSS
growth. The body is sent chunked, one random MiB repeated."""

import os
import statistics
import time

from bench.client import request
from bench.figures import median_range
from bench.procmem import MIB, PeakGrowth, Sampler


def _upload(service, size_mib: int) -> tuple[float, float, list]:
    """One upload: (seconds, peak growth in MiB, RSS samples)."""
    chunk = os.urandom(MIB)
    body = (chunk for _ in range(size_mib))
    headers = {
        **service.headers,
        "Content-Type": "application/octet-stream",
        "X-Filename": "big.bin",
    }
    with Sampler(service.pid) as sampler, PeakGrowth(service.pid) as peak:
        started = time.perf_counter()
        code, _ = request(service.port, "POST", "/api/uploads", headers, body)
        seconds = time.perf_counter() - started
    assert code == 201, code
    for stored in service.upload_dir.iterdir():
        stored.unlink()
    return seconds, peak.growth / MIB, sampler.samples


def phase_upload(service, *, size_mib: int, runs: int) -> dict:
    seconds, growth = [], []
    service.start()
    try:
        for run in range(runs):
            took, grew, samples = _upload(service, size_mib)
            seconds.append(took)
            growth.append(grew)
            if run == 0:
                service.charts[f"upload {size_mib} MiB"] = samples
    finally:
        service.stop()
    return {
        "size_mib": size_mib,
        "seconds": median_range(seconds),
        "mib_per_second": size_mib / statistics.median(seconds),
        "peak_rss_growth_mib": median_range(growth),
    }
