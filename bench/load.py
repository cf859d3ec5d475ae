"""Load generation with wrk (Debian package `wrk`): requests per second and
latency percentiles at a fixed concurrency, for a bounded time, on loopback."""

import re
import shutil
import subprocess

# Prints the percentiles wrk measured (its --latency table is 50/75/90/99 only).
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("percentiles %d %d %d\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
  io.write(string.format("errors %d %d\\n",
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout, summary.requests))
end
"""


def ensure_wrk() -> str:
    """wrk's path, installing Debian's package when it is missing (as CI does)."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def wrk(url: str, seconds: float, connections: int, headers: dict, script_dir) -> dict:
    script = script_dir / "percentiles.lua"
    script.write_text(WRK_SCRIPT)
    command = [
        ensure_wrk(),
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50, p95, p99 = (
        int(v) / 1000 for v in re.search(r"percentiles (\d+) (\d+) (\d+)", output).groups()
    )
    errors, total = (int(v) for v in re.search(r"errors (\d+) (\d+)", output).groups())
    return {
        "rps": rps,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "errors": errors,
        "requests": total,
    }
