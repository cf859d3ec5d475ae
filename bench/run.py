"""The benchmark: one command renders the PostgreSQL variant, loads the
workload of the design (1,000 users, 100,000 bookings, then 1,000,000 for the
export run) into a throwaway PostgreSQL on 127.0.0.1, runs one uvicorn
worker (unless a phase says otherwise), measures each phase and writes
bench/results.{json,md}, bench/memory.png and the README's performance table.

    python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt && .venv/bin/python bench/run.py [--quick]

Phases, in order: idle RSS and its floor (import_floor.py); 40 generated
routers, lazy vs eager (startup.py); four workers' PSS, gunicorn vs uvicorn
(workers.py); the memory guard's overhead (guard.py); lists under wrk against
the Starlette + asyncpg floor (floor_app.py), `ab -n 1000 -c 50`, and the
naive baseline under the same load (throughput.py, naive_app.py); deep pages;
exports of 100,000 and 1,000,000 rows and the database's own export rate;
a 1 GiB upload; the worker memory of an open database connection, plain and
TLS (`--only-tls` measures just that, into the last results; `--only
lists,ab` measures the named phases on 100,000 rows, into the last results).

Each figure is the median of 3 runs with its range (--quick: 1 run, 10,000
rows, a 64 MiB upload, 2-3 s of load). Memory comes from /proc: RSS sampled
every 50 ms, and the exact peak from VmHWM, reset through clear_refs before
each measured request or load. wrk and ab come from Debian's packages,
installed when missing. Everything started here is stopped here; all
traffic stays on loopback and every load is bounded in time.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from bench.client import free_port, request, running, wait_for_health  # noqa: E402
from bench.guard import phase_guard  # noqa: E402
from bench.load import pinned  # noqa: E402
from bench.logins import phase_logins  # noqa: E402
from bench.procmem import MIB, PeakGrowth, Sampler, status  # noqa: E402
from bench.startup import phase_routers  # noqa: E402
from bench.throughput import phase_ab, phase_lists, phase_naive  # noqa: E402
from bench.workers import phase_workers  # noqa: E402
from harness import pgcluster  # noqa: E402

SLUG = "lean_service"
CLI = "lean-service"
CURSOR_SECRET = "bench-secret-not-for-production"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def median_range(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": values,
    }


# ---------------------------------------------------------------- set-up


class Service:
    """The rendered service: installed in its own venv, migrated, seeded, served."""

    def __init__(self, work: Path, database_url: str) -> None:
        self.work = work
        self.upload_dir = work / "uploads"
        project = Path(
            cookiecutter(
                str(REPO),
                no_input=True,
                output_dir=str(work),
                overwrite_if_exists=True,
                extra_context={"database": "postgresql", "with_docker": "no"},
            )
        )
        venv = work / "venv"
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        self.python = venv / "bin" / "python"
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(self.python), str(project)], check=True
        )
        self.cli = str(venv / "bin" / CLI)
        self.slug = SLUG
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CURSOR_SECRET": CURSOR_SECRET,
            "DOCS_ENABLED": "false",
            # One client sending thousands of requests a second: what is
            # measured is the service, not its 429s.
            "RATE_LIMIT_ENABLED": "false",
            "UPLOAD_DIR": str(self.upload_dir),
            "MAX_UPLOAD_SIZE_MB": "4096",
        }
        self.process: subprocess.Popen | None = None
        self.port = 0

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [self.cli, *args], env=self.env, check=True, capture_output=True, text=True
        )
        return result.stdout

    def python_eval(self, code: str) -> str:
        result = subprocess.run(
            [str(self.python), "-c", code], env=self.env, check=True, capture_output=True, text=True
        )
        return result.stdout.strip()

    def start(self, *serve_args: str, env: dict | None = None, cpu: str | None = None) -> None:
        """Serve (one uvicorn worker unless `serve_args` say otherwise) and wait
        for /health; on core `cpu` alone when given. One server at a time: one
        still running is stopped first, never left behind."""
        self.stop()
        self.port = free_port()
        argv = [self.cli, "serve", "--port", str(self.port), "--log-level", "warning", *serve_args]
        self.process = subprocess.Popen(
            pinned(argv, cpu) if cpu else argv,
            env={**self.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_health(self.port, self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    @property
    def pid(self) -> int:
        return self.process.pid


def prepare_database(service: Service, url: str, rows: int) -> dict:
    """A `bench` database, migrated and seeded; the benchmark user (an
    administrator) owns one booking in 50, for the caller's own list.
    Returns that user's Authorization header."""
    service.python_eval(
        "import asyncio, asyncpg, sys\n"
        "async def m():\n"
        f"    c = await asyncpg.connect({url.replace('+asyncpg', '')!r})\n"
        "    await c.execute('CREATE DATABASE bench')\n"
        "    await c.close()\n"
        "asyncio.run(m())"
    )
    service.env["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/bench"
    service.run("migrate")
    token = service.run("create-user", "bench@example.org", "--admin").strip().splitlines()[-1]
    log(f"seeding 1,000 users and {rows:,} bookings")
    service.run("seed", "--users", "1000", "--bookings", str(rows), "--venues", "100")
    service.python_eval(
        "import asyncio, os, asyncpg\n"
        "async def m():\n"
        "    c = await asyncpg.connect(os.environ['DATABASE_URL'].replace('+asyncpg', ''))\n"
        '    await c.execute("UPDATE bookings SET user_id = (SELECT id FROM users"\n'
        "        \" WHERE email = 'bench@example.org') WHERE id % 50 = 0\")\n"
        "    await c.execute('ANALYZE')\n"
        "    await c.close()\n"
        "asyncio.run(m())"
    )
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- phases


def idle_rss_mib(pid: int, port: int) -> float:
    """RSS after the first /health, once the process has settled."""
    request(port, "GET", "/api/health")
    time.sleep(1.0)
    return status(pid, "VmRSS") / MIB


def phase_idle(service: Service, runs: int) -> dict:
    """The service's idle RSS, and the floor: its libraries alone (import_floor.py)."""
    service_rss, floor_rss = [], []
    for _ in range(runs):
        service.start()
        try:
            service_rss.append(idle_rss_mib(service.pid, service.port))
        finally:
            service.stop()
        floor = [str(service.python), str(BENCH / "import_floor.py")]
        with running(floor, service.env) as (process, port):
            floor_rss.append(idle_rss_mib(process.pid, port))
    return {"rss_mib": median_range(service_rss), "floor_rss_mib": median_range(floor_rss)}


def timed_ms(port: int, paths: dict[str, str], headers: dict, repeat: int) -> dict[str, float]:
    """Median latency per path. Requests are interleaved (a, b, c, a, b, c, ...)
    after a warm-up, so drift on a shared machine hits every path alike."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(repeat + 5):
        for name, path in paths.items():
            started = time.perf_counter()
            code, _ = request(port, "GET", path, headers)
            assert code == 200, (path, code)
            if round_ >= 5:
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def phase_deep_page(service: Service, headers: dict, depth: int, repeat: int) -> dict:
    """First page vs offset at `depth` vs keyset at the same depth (admin list,
    50 rows). All three skip the COUNT (with_total=false), so they compare the
    page queries alone."""
    code = f"""
import asyncio, json
from sqlalchemy import select
from {SLUG}.app import create_app
from {SLUG}.models import Booking
from {SLUG}.pagination import PageParams, encode_cursor
from {SLUG}.settings import get_settings
async def main():
    from {SLUG}.db import create_engine
    engine = create_engine(get_settings())
    async with engine.connect() as conn:
        row = (await conn.execute(select(Booking.start_datetime, Booking.id)
            .order_by(Booking.start_datetime.desc(), Booking.id.desc()).offset({depth - 1}).limit(1))).one()
    await engine.dispose()
    params = PageParams(page=1, page_size=50, cursor=None, with_total=False,
        scope=json.dumps(["/api/admin/bookings", []]), secret=get_settings().cursor_secret.get_secret_value().encode())
    print(encode_cursor(params, list(row)))
asyncio.run(main())
"""
    cursor = service.python_eval(code)
    # All three skip the COUNT (with_total=false): they compare the page queries alone.
    path = "/api/admin/bookings?page_size=50&with_total=false"
    paths = {
        "first": path,
        "offset": f"{path}&page={depth // 50 + 1}",
        "keyset": f"{path}&cursor={cursor}",
    }
    med = timed_ms(service.port, paths, headers, repeat)
    return {
        "depth": depth,
        "first_page_ms": med["first"],
        "offset_deep_ms": med["offset"],
        "keyset_deep_ms": med["keyset"],
        "keyset_over_first": med["keyset"] / med["first"],
        "offset_over_first": med["offset"] / med["first"],
    }


def phase_export(
    service: Service, headers: dict, fmt: str, rows: int, runs: int, charts: dict
) -> dict:
    seconds, growth = [], []
    for run in range(runs):
        with Sampler(service.pid) as sampler, PeakGrowth(service.pid) as peak:
            started = time.perf_counter()
            code, size = request(
                service.port, "GET", f"/api/admin/bookings/export?format={fmt}", headers
            )
            seconds.append(time.perf_counter() - started)
        assert code == 200 and size > rows * 100, (code, size)
        growth.append(peak.growth / MIB)
        if run == 0:
            charts[f"export {rows:,} {fmt}"] = sampler.samples
    return {
        "rows": rows,
        "seconds": median_range(seconds),
        "rows_per_second": rows / statistics.median(seconds),
        "peak_rss_growth_mib": median_range(growth),
    }


EXPORT_SQL = (
    "SELECT id, booking_reference, user_id, venue_id, title, status, start_datetime, "
    "end_datetime, notes, created_at, updated_at FROM bookings ORDER BY start_datetime DESC, id DESC"
)


def phase_database_floor(service: Service, rows: int) -> dict:
    """How fast PostgreSQL itself writes the export's rows, with no Python in
    the loop: COPY of the same query to a discarding sink, as JSON
    (row_to_json, one object per line) and as plain text. No service can
    stream the rows as JSON faster than the database can produce them."""
    code = f"""
import asyncio, os, time, asyncpg
async def main():
    conn = await asyncpg.connect(os.environ["DATABASE_URL"].replace("+asyncpg", ""))
    await conn.execute("SET TimeZone = 'UTC'")
    async def discard(_data):
        pass
    for name, query in (("json", "SELECT row_to_json(b) FROM ({EXPORT_SQL}) b"), ("text", "{EXPORT_SQL}")):
        started = time.perf_counter()
        await conn.copy_from_query(query, output=discard)
        print(name, time.perf_counter() - started)
    await conn.close()
asyncio.run(main())
"""
    timings = dict(line.split() for line in service.python_eval(code).splitlines())
    return {f"{name}_rows_per_second": rows / float(seconds) for name, seconds in timings.items()}


TLS_CONNECTIONS = 20


def phase_tls(service: Service, root_cert: Path, runs: int) -> dict:
    """What an open connection costs the worker, with and without TLS: the
    service's own engine opens TLS_CONNECTIONS connections at once in a fresh
    process (after a warm-up connection pays the imports and the handshake
    code), and the RSS growth is divided by their number."""
    # verify-full checks the host name: the test certificate names localhost.
    url = service.env["DATABASE_URL"].replace("@127.0.0.1:", "@localhost:")
    code = f"""
import asyncio
from pathlib import Path
from {service.slug}.db import create_engine
from {service.slug}.settings import load_settings
def rss_kib():
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])
async def main(tls):
    settings = load_settings(
        database_url={url!r}, _env_file=None,
        db_pool_size={TLS_CONNECTIONS}, db_max_overflow=0, **tls,
    )
    engine = create_engine(settings)
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    await engine.dispose()
    before = rss_kib()
    connections = [await engine.connect() for _ in range({TLS_CONNECTIONS})]
    for conn in connections:
        await conn.exec_driver_sql("SELECT 1")
    print((rss_kib() - before) / {TLS_CONNECTIONS})
    for conn in connections:
        await conn.close()
    await engine.dispose()
"""
    modes = {
        "plain": "{'db_ssl_mode': 'disable'}",
        "tls": f"{{'db_ssl_mode': 'verify-full', 'db_ssl_root_cert': {str(root_cert)!r}}}",
    }
    per_connection = {
        name: [float(service.python_eval(f"{code}\nasyncio.run(main({tls}))")) for _ in range(runs)]
        for name, tls in modes.items()
    }
    return {
        "connections": TLS_CONNECTIONS,
        **{f"{name}_kib": median_range(values) for name, values in per_connection.items()},
    }


def phase_upload(service: Service, headers: dict, size_mib: int, runs: int, charts: dict) -> dict:
    chunk = os.urandom(MIB)
    seconds, growth = [], []
    for run in range(runs):
        body = (chunk for _ in range(size_mib))
        upload_headers = {
            **headers,
            "Content-Type": "application/octet-stream",
            "X-Filename": "big.bin",
        }
        with Sampler(service.pid) as sampler, PeakGrowth(service.pid) as peak:
            started = time.perf_counter()
            code, _ = request(service.port, "POST", "/api/uploads", upload_headers, body)
            seconds.append(time.perf_counter() - started)
        assert code == 201, code
        growth.append(peak.growth / MIB)
        if run == 0:
            charts[f"upload {size_mib} MiB"] = sampler.samples
        for stored in service.upload_dir.iterdir():
            stored.unlink()
    return {
        "size_mib": size_mib,
        "seconds": median_range(seconds),
        "mib_per_second": size_mib / statistics.median(seconds),
        "peak_rss_growth_mib": median_range(growth),
    }


# ---------------------------------------------------------------- report


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "python": platform.python_version(),
        "postgresql": pgcluster.bin_dir().parent.name,
    }


def write_chart(charts: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(len(charts), 1, figsize=(8, 2.2 * len(charts)), squeeze=False)
    for axis, (name, samples) in zip(axes[:, 0], charts.items(), strict=True):
        axis.plot([t for t, _ in samples], [rss / MIB for _, rss in samples])
        axis.set_title(name, fontsize=9)
        axis.set_ylabel("RSS MiB")
        axis.set_ylim(bottom=0)  # from zero: a flat line must look flat
    axes[-1, 0].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return True


def fmt_range(value: dict, digits: int = 1) -> str:
    return f"{value['median']:.{digits}f} ({value['min']:.{digits}f}-{value['max']:.{digits}f})"


def spread(values: list[float], digits: int = 0) -> str:
    """The range of a figure's runs, as (min-max); empty for a single run."""
    if len(values) < 2:
        return ""
    return f" ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def markdown(results: dict) -> str:
    m, p = results["machine"], results["phases"]
    idle, floor_idle = p["idle"]["rss_mib"], p["idle"]["floor_rss_mib"]
    lines = [
        "| measure | result | target | |",
        "|---|---|---|---|",
        f"| idle RSS after the first /health (one worker), MiB | {fmt_range(idle)} | <= 60 | {verdict(idle['median'] <= 60)} |",
        f"| floor: FastAPI + SQLAlchemy + asyncpg + uvicorn alone (`bench/import_floor.py`), MiB | {fmt_range(floor_idle)} | | |",
    ]
    routers = p["routers"]
    rss = routers["idle_rss_mib"]
    lines += [
        f"| idle RSS with {routers['routers']} more routers of {routers['models_per_router']} models, eager | {rss['eager']:.1f}{spread(routers['idle_rss_runs']['eager'], 1)} MiB (the routers cost {routers['routers_cost_mib']:.1f} MiB over the service without them: {rss['none']:.1f}{spread(routers['idle_rss_runs']['none'], 1)}) | | |",
        f"| the same, lazy (LAZY_ROUTERS=true) | {rss['lazy']:.1f}{spread(routers['idle_rss_runs']['lazy'], 1)} MiB: saves {routers['lazy_saves']:.0%} of what the routers cost | >= 70% | {verdict(routers['lazy_saves'] >= 0.7)} |",
        f"| first request to a lazy router (imports it) | {routers['lazy_first_request_ms']:.1f} ms (eager: {routers['eager_first_request_ms']:.1f} ms; later requests {routers['lazy_later_request_ms']:.1f} ms) | | |",
    ]
    lists = p["lists"]
    for name in ("10", "50", "own 50"):
        if name not in lists:  # results from before the own list was measured
            continue
        lst = lists[name]
        svc, flr, stack = lst["service"], lst["floor"], lst["stack"]
        label = f"list of {name.split()[-1]} ({'own' if 'own' in name else 'admin'})"
        runs = lst["runs"]
        lines += [
            f"| {label}, every default on, wrk c={lists['connections']} {lists['seconds']:.0f} s: req/s | {svc['rps']:,.0f}{spread([r['rps'] for r in runs['service']])} vs stack floor {stack['rps']:,.0f}{spread([r['rps'] for r in runs['stack']])} ({lst['stack_rps_ratio']:.2f}x) and Starlette floor {flr['rps']:,.0f}{spread([r['rps'] for r in runs['floor']])} ({lst['rps_ratio']:.2f}x) | >= 0.8x the stack floor | {verdict(lst['stack_rps_ratio'] >= 0.8)} |",
            f"| {label}: p50 / p95 / p99 ms | {svc['p50_ms']:.1f} / {svc['p95_ms']:.1f} / {svc['p99_ms']:.1f}{spread([r['p99_ms'] for r in runs['service']], 1)} vs stack floor {stack['p50_ms']:.1f} / {stack['p95_ms']:.1f} / {stack['p99_ms']:.1f} and Starlette floor {flr['p50_ms']:.1f} / {flr['p95_ms']:.1f} / {flr['p99_ms']:.1f} (p99 {lst['p99_ratio']:.2f}x) | p99 <= 4x the Starlette floor's | {verdict(lst['p99_ratio'] <= 4)} |",
            f"| {label}: CPU per request, ms | {svc['cpu_ms_per_request']:.2f} vs stack floor {stack['cpu_ms_per_request']:.2f} and Starlette floor {flr['cpu_ms_per_request']:.2f} | <= 1.5 | {verdict(svc['cpu_ms_per_request'] <= 1.5)} |",
            f"| {label}: peak RSS under load, MiB | {svc['peak_rss_mib']:.1f} vs stack floor {stack['peak_rss_mib']:.1f} and Starlette floor {flr['peak_rss_mib']:.1f} | | |",
        ]
    floor_export = lists["floor_export"]
    lines.append(
        f"| floor: the same {lists['rows']:,} rows exported buffered (fetch all, one JSON document) | {floor_export['seconds']:.2f} s, peak RSS growth {floor_export['peak_rss_growth_mib']:.0f} MiB | | |"
    )
    abr = p["ab"]
    for workers in (1, 2):
        run_ = abr[f"{workers}_workers"]
        lines.append(
            f"| `ab -n 1000 -c 50` on the caller's own list of 50, {workers} worker{'s' if workers > 1 else ''}: success, p95 | {run_['success_rate']:.0%}, {run_['p95_ms']:.0f} ms | 100%, p95 <= 300 ms | {verdict(run_['success_rate'] == 1 and run_['p95_ms'] <= 300)} |"
        )
    naive = p["naive"]
    lines += [
        f"| peak RSS under load (wrk c={naive['connections']}, {naive['seconds']:.0f} s): service's page of 50 vs naive baseline's list of every row | {naive['service']['peak_rss_mib']:.0f} MiB vs {naive['naive']['peak_rss_mib']:.0f} MiB ({1 - naive['peak_rss_ratio']:.0%} less) | >= 50% less | {verdict(naive['peak_rss_ratio'] <= 0.5)} |",
        f"| naive baseline: one buffered export of every row, peak RSS growth | {naive['naive_export_peak_growth_mib']:.0f} MiB (the service streams it: see the export rows) | | |",
    ]
    guard = p["guard"]
    for name, label in (("health", "/health"), ("list", "a list of 10 (admin)")):
        g = guard[name]
        lines.append(
            f"| memory guard overhead on {label}, wrk c={guard['connections']} | {g['overhead']:.1%} ({g['rps_with']:,.0f}{spread(g['runs']['with'])} vs {g['rps_without']:,.0f}{spread(g['runs']['without'])} req/s without it) | <= 3% | {verdict(g['overhead'] <= 0.03)} |"
        )
    workers = p["workers"]
    lines.append(
        f"| {workers['workers']} workers just started, total PSS: gunicorn, preload + gc.freeze() | {workers['booted_gunicorn_pss_mib']:.0f} MiB vs {workers['booted_uvicorn_pss_mib']:.0f} MiB for `uvicorn --workers {workers['workers']}` ({workers['booted_gunicorn_pss_mib'] / workers['booted_uvicorn_pss_mib']:.0%}) | | |"
    )
    lines.append(
        f"| {workers['workers']} workers after {workers.get('load_seconds', 5):.0f} s of load, total PSS: gunicorn, preload + gc.freeze() | {workers['gunicorn_pss_mib']:.0f}{spread([r['pss_mib'] for r in workers['runs']['gunicorn']])} MiB vs {workers['uvicorn_pss_mib']:.0f}{spread([r['pss_mib'] for r in workers['runs']['uvicorn']])} MiB for `uvicorn --workers {workers['workers']}` ({workers['ratio']:.0%}) | <= 55% | {verdict(workers['ratio'] <= 0.55)} |"
    )
    for name, export in p["exports"].items():
        rate, growth = export["rows_per_second"], export["peak_rss_growth_mib"]
        rate_target = (
            ("| >= 150,000 | " + verdict(rate >= 150_000))
            if "1,000,000 rows ndjson" in name
            else "| |"
        )
        lines.append(f"| export {name}: rows/s | {rate:,.0f} {rate_target} |")
        lines.append(
            f"| export {name}: peak RSS growth, MiB (median, range) | {fmt_range(growth)} | <= 10 | {verdict(growth['max'] <= 10)} |"
        )
    floor = p["database_floor"]
    lines += [
        f"| floor: PostgreSQL's own COPY of the same rows as JSON (row_to_json) | {floor['json_rows_per_second']:,.0f} rows/s | | |",
        f"| floor: PostgreSQL's own COPY of the same rows as text | {floor['text_rows_per_second']:,.0f} rows/s | | |",
    ]
    deep = p["deep_page"]
    lines += [
        f"| first page of 50 (admin list) | {deep['first_page_ms']:.2f} ms | | |",
        f"| keyset page at depth {deep['depth']:,} | {deep['keyset_deep_ms']:.2f} ms ({deep['keyset_over_first']:.2f}x first page) | <= 1.2x | {verdict(deep['keyset_over_first'] <= 1.2)} |",
        f"| offset page at depth {deep['depth']:,} (for comparison) | {deep['offset_deep_ms']:.2f} ms ({deep['offset_over_first']:.2f}x first page) | | |",
    ]
    upload = p["upload"]
    lines += [
        f"| upload {upload['size_mib']:,} MiB: throughput | {upload['mib_per_second']:.0f} MiB/s | | |",
        f"| upload {upload['size_mib']:,} MiB: peak RSS growth, MiB (median, range) | {fmt_range(upload['peak_rss_growth_mib'])} | <= 10 | {verdict(upload['peak_rss_growth_mib']['max'] <= 10)} |",
    ]
    if logins := p.get("logins"):
        bounded, unbounded = logins["bounded"], logins["unbounded"]
        lines += [
            f"| {logins['clients']} logins at once, one worker, PASSWORD_HASH_CONCURRENCY={bounded['concurrency']}: peak RSS growth, success, p95 | {bounded['growth_mib']:.0f} MiB, {bounded['succeeded']}/{logins['clients']}, {bounded['p95_ms']:,.0f} ms | <= {logins['target_growth_mib']} MiB | {verdict(bounded['growth_mib'] <= logins['target_growth_mib'])} |",
            f"| the same burst with the bound lifted ({unbounded['concurrency']}): peak RSS growth, success, p95 | {unbounded['growth_mib']:.0f} MiB, {unbounded['succeeded']}/{logins['clients']}, {unbounded['p95_ms']:,.0f} ms | | |",
        ]
    if tls := p.get("tls"):
        lines.append(
            f"| worker RSS per open database connection ({tls['connections']} at once): plain / TLS (verify-full) | {fmt_range(tls['plain_kib'], 0)} / {fmt_range(tls['tls_kib'], 0)} KiB | | |"
        )
    head = (
        f"Measured {results['date']} by `python3 bench/run.py{' --quick' if results['quick'] else ''}` on "
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"PostgreSQL {m['postgresql']} on 127.0.0.1; one uvicorn worker; "
        f"{results['runs']} run(s) per figure."
    )
    return head + "\n\n" + "\n".join(lines) + "\n"


def update_readme(table: str) -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        readme.write_text(f"{before}{start}\n{table}{end}{after}")


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows, 1 run, small upload")
    parser.add_argument("--out", type=Path, default=BENCH, help="where results go")
    parser.add_argument("--work", type=Path, default=BENCH / "out", help="scratch directory")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite results.md and the README from results.json",
    )
    parser.add_argument(
        "--only",
        help="measure only these phases (comma-separated: "
        + ", ".join(ONLY_PHASES)
        + "), 100,000 rows, into the last results",
    )
    parser.add_argument(
        "--only-tls",
        action="store_true",
        help="measure only the cost of a connection, plain and TLS, into results.json",
    )
    args = parser.parse_args()
    if args.only_tls:
        only_tls(args.out, args.work)
        return
    if args.only:
        only(args.only.split(","), args.out, args.work)
        return
    if args.report_only:
        report(json.loads((args.out / "results.json").read_text()), args.out, charts=None)
        return
    runs = 1 if args.quick else 3
    base_rows, big_rows = (10_000, 20_000) if args.quick else (100_000, 1_000_000)
    upload_mib = 64 if args.quick else 1024

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    pg_dir = args.work / "pg"
    service = None
    try:
        log("starting PostgreSQL")
        url = pgcluster.start(pg_dir)
        log("rendering and installing the PostgreSQL variant")
        service = Service(args.work, url)
        headers = prepare_database(service, url, base_rows)
        charts: dict = {}
        phases: dict = {"idle": phase_idle(service, runs), "exports": {}}
        log(f"idle RSS {phases['idle']}")
        phases["routers"] = phase_routers(service, args.work, runs)
        log(f"lazy routers: {phases['routers']}")
        phases["workers"] = phase_workers(
            service, headers, runs, load_seconds=2 if args.quick else 5
        )
        log(
            f"workers: {phases['workers']['gunicorn_pss_mib']:.0f} vs {phases['workers']['uvicorn_pss_mib']:.0f} MiB"
        )
        phases["guard"] = phase_guard(
            service, headers, seconds=2 if args.quick else 10, runs=runs, work=args.work
        )
        log(f"guard overhead: {phases['guard']}")
        phases["lists"] = phase_lists(
            service,
            headers,
            seconds=2 if args.quick else 15,
            warmup=1 if args.quick else 3,
            runs=runs,
            work=args.work,
        )
        phases["lists"]["rows"] = base_rows
        log(f"lists: {phases['lists']}")
        phases["ab"] = phase_ab(service, headers)
        log(f"ab: {phases['ab']}")
        phases["naive"] = phase_naive(
            service, headers, seconds=3 if args.quick else 15, work=args.work, charts=charts
        )
        log(f"naive: {phases['naive']}")
        service.start()
        phases["deep_page"] = phase_deep_page(
            service, headers, depth=min(90_000, base_rows - 100), repeat=10 if args.quick else 30
        )
        log(f"deep page: {phases['deep_page']}")
        for fmt in ("ndjson", "json"):
            phases["exports"][f"{base_rows:,} rows {fmt}"] = phase_export(
                service, headers, fmt, base_rows, runs, charts
            )
        log(f"seeding up to {big_rows:,} bookings")
        service.run("seed", "--users", "1000", "--bookings", str(big_rows), "--venues", "100")
        for fmt in ("ndjson", "json"):
            phases["exports"][f"{big_rows:,} rows {fmt}"] = phase_export(
                service, headers, fmt, big_rows, runs, charts
            )
            log(
                f"export {fmt}: {phases['exports'][f'{big_rows:,} rows {fmt}']['rows_per_second']:,.0f} rows/s"
            )
        phases["database_floor"] = phase_database_floor(service, big_rows)
        log(f"database floor: {phases['database_floor']}")
        phases["upload"] = phase_upload(service, headers, upload_mib, runs, charts)
        log(f"upload: {phases['upload']['mib_per_second']:.0f} MiB/s")
        phases["logins"] = phase_logins(service, runs)
        log(f"logins: {phases['logins']}")
        phases["tls"] = phase_tls(service, pg_dir / "root.crt", runs)
        log(f"connection cost: {phases['tls']}")
    finally:
        if service:
            service.stop()
        pgcluster.stop(pg_dir)

    results = {
        "date": time.strftime("%Y-%m-%d"),
        "quick": args.quick,
        "runs": runs,
        "machine": machine(),
        "phases": phases,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report(results, args.out, charts)


ONLY_PHASES = {
    "idle": lambda service, headers, work: phase_idle(service, runs=3),
    "guard": lambda service, headers, work: phase_guard(
        service, headers, seconds=10, runs=3, work=work
    ),
    "lists": lambda service, headers, work: {
        **phase_lists(service, headers, seconds=15, warmup=3, runs=3, work=work),
        "rows": 100_000,
    },
    "ab": lambda service, headers, work: phase_ab(service, headers),
    "deep_page": lambda service, headers, work: _deep_page(service, headers),
    "logins": lambda service, headers, work: phase_logins(service, runs=3),
}


def _deep_page(service: Service, headers: dict) -> dict:
    service.start()
    try:
        return phase_deep_page(service, headers, depth=90_000, repeat=30)
    finally:
        service.stop()


def only(names: list[str], out: Path, work: Path) -> None:
    """Some phases on the 100,000-row workload, merged into the last full results."""
    unknown = set(names) - set(ONLY_PHASES)
    if unknown:
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pg_dir = work / "pg"
    results = json.loads((out / "results.json").read_text())
    service = None
    try:
        log("starting PostgreSQL")
        url = pgcluster.start(pg_dir)
        service = Service(work, url)
        headers = prepare_database(service, url, 100_000)
        for name in names:
            results["phases"][name] = ONLY_PHASES[name](service, headers, work)
            log(f"{name}: {results['phases'][name]}")
    finally:
        if service:
            service.stop()
        pgcluster.stop(pg_dir)
    results["date"] = time.strftime("%Y-%m-%d")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report(results, out, charts=None)


def only_tls(out: Path, work: Path) -> None:
    """The connection-cost phase alone, merged into the last full results."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pg_dir = work / "pg"
    try:
        log("starting PostgreSQL")
        service = Service(work, pgcluster.start(pg_dir))
        phase = phase_tls(service, pg_dir / "root.crt", runs=3)
        log(f"connection cost: {phase}")
    finally:
        pgcluster.stop(pg_dir)
    results = json.loads((out / "results.json").read_text())
    results["phases"]["tls"] = phase
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report(results, out, charts=None)


def report(results: dict, out: Path, charts: dict | None) -> None:
    """Write results.md (and, for a full run into bench/, the README table)."""
    table = markdown(results)
    chart = write_chart(charts, out / "memory.png") if charts else (out / "memory.png").exists()
    (out / "results.md").write_text(
        "# Benchmark results\n\n"
        + table
        + ("\n![RSS over time per phase](memory.png)\n" if chart else "")
    )
    if not results["quick"] and out == BENCH:
        update_readme(table)
    print(table)


if __name__ == "__main__":
    main()
