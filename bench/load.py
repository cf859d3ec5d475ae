"""Load generation with wrk (Debian package `wrk`): requests per second and
latency percentiles at a fixed concurrency, for a bounded time, on loopback;
with ab for the guide's own test; and with the generated service's
`loadtest` for its mixed load (the soak, the success metrics).

On a machine with two or more cores the server runs on core 0 and the load
generator on core 1 (taskset), so that they do not take turns on the same
core: without it, figures on a 2-core machine moved by 20% between runs.
"""

import json
import os
import re
import shutil
import subprocess

SERVER_CPU, LOAD_CPU = "0", "1"


def pinned(argv: list[str], cpu: str) -> list[str]:
    """`argv` run on one core, where there are cores to spare (taskset execs it: same PID)."""
    if (os.cpu_count() or 1) < 2 or not shutil.which("taskset"):
        return argv
    return ["taskset", "-c", cpu, *argv]


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


def installed(command: str, package: str) -> str:
    """The command's path, installing its Debian package when it is missing (as CI does)."""
    found = shutil.which(command)
    if found:
        return found
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)
    return shutil.which(command) or command


def _run(command: list[str], headers: dict, url: str) -> str:
    """Run a load generator (wrk and ab take -H the same way) on its core; its output."""
    for name, value in headers.items():
        command = [*command, "-H", f"{name}: {value}"]
    return subprocess.run(
        pinned([*command, url], LOAD_CPU), check=True, capture_output=True, text=True
    ).stdout


def wrk(
    url: str, seconds: float, connections: int, headers: dict, script_dir, timeout_s: int = 10
) -> dict:
    script = script_dir / "percentiles.lua"
    script.write_text(WRK_SCRIPT)
    command = [
        installed("wrk", "wrk"),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(script),
    ]
    output = _run(command, headers, url)
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


def ab(url: str, requests: int, concurrency: int, headers: dict) -> dict:
    """ApacheBench (Debian package `apache2-utils`): success rate and p95."""
    command = [
        installed("ab", "apache2-utils"),
        "-q",
        "-n",
        str(requests),
        "-c",
        str(concurrency),
        "-s",
        "60",
    ]
    output = _run(command, headers, url)
    complete = int(re.search(r"Complete requests:\s+(\d+)", output).group(1))
    failed = int(re.search(r"Failed requests:\s+(\d+)", output).group(1))
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", output)
    bad = failed + (int(non_2xx.group(1)) if non_2xx else 0)
    p95 = float(re.search(r"^\s*95%\s+(\d+)", output, re.MULTILINE).group(1))
    return {
        "requests": requests,
        "succeeded": complete - bad,
        "success_rate": (complete - bad) / requests,
        "p95_ms": p95,
    }


def loadtest(service, *args: str, cpu: str | None = LOAD_CPU) -> dict:
    """The generated `loadtest`'s JSON report against the running server
    (on core `cpu` when given)."""
    command = [
        str(service.project.bin / service.project.cli_name),
        "loadtest",
        f"http://127.0.0.1:{service.port}",
        *args,
        "--json",
    ]
    done = subprocess.run(
        pinned(command, cpu) if cpu else command,
        env=service.env,
        cwd=service.project.path,
        capture_output=True,
        text=True,
    )
    if not done.stdout.strip():
        raise RuntimeError(f"loadtest failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)
