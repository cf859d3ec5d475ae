"""The benchmark: renders the PostgreSQL variant, seeds a throwaway
PostgreSQL on 127.0.0.1 (1,000 users, 100,000 bookings; 1,000,000 for the
big exports), measures each phase of bench/phases.py and writes
bench/results.{json,md}, bench/memory.png and the README's table.

    .venv/bin/python bench/run.py [--quick | --only idle,lists | --only-tls | --report-only]

Each figure is the median of 3 runs with its range (--quick: 1 run, 10,000
rows, a 64 MiB upload, 2-3 s of load). Everything started here is stopped
here; all traffic stays on loopback and every load is bounded in time.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.machine import machine  # noqa: E402
from bench.phases import PHASES, ROWS, RUNS  # noqa: E402
from bench.progress import log  # noqa: E402
from bench.report import report  # noqa: E402
from bench.service import Service  # noqa: E402
from harness import pgcluster  # noqa: E402

ALONE = [name for name, phase in PHASES.items() if phase.alone]


def measure(
    names: list[str], mode: str, work: Path, seed: bool = True, params: dict | None = None
) -> tuple[dict, dict]:
    """The named phases on a fresh cluster and service: (figures by phase,
    charts); `params` replaces a phase's parameters (by its name)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pg_dir, figures, service = work / "pg", {}, None
    try:
        log("starting PostgreSQL")
        url = pgcluster.start(pg_dir)
        log("rendering and installing the PostgreSQL variant")
        service = Service(work, pg_dir, url)
        if seed:
            log(f"seeding 1,000 users and {ROWS[mode]:,} bookings")
            service.prepare_database(ROWS[mode])
        for name in names:
            phase = PHASES[name]
            figures[name] = phase.measure(service, **(params or {}).get(name, getattr(phase, mode)))
            log(f"{name}: {figures[name]}")
    finally:
        if service:
            service.stop()
        pgcluster.stop(pg_dir)
    return figures, service.charts


def write(results: dict, out: Path, charts: dict | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report(results, out, charts)


def full(quick: bool, out: Path, work: Path) -> None:
    mode = "quick" if quick else "full"
    names = [name for name, phase in PHASES.items() if getattr(phase, mode) is not None]
    phases, charts = measure(names, mode, work)
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "quick": quick,
        "runs": RUNS[mode],
        "machine": machine(),
        "phases": phases,
    }
    write(results, out, charts)


def merged(
    names: list[str], out: Path, work: Path, seed: bool = True, params: dict | None = None
) -> dict:
    """The last results, with the named phases measured again (full parameters,
    or `params` by phase)."""
    results = json.loads((out / "results.json").read_text())
    results["phases"] |= measure(names, "full", work, seed, params)[0]
    return results


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
        help=f"measure only these phases (comma-separated: {', '.join(ALONE)}), "
        "100,000 rows, into the last results",
    )
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=None,
        help="with --only soak: how long the soak runs (default: 20 minutes)",
    )
    parser.add_argument(
        "--only-tls",
        action="store_true",
        help="measure only the cost of a connection, plain and TLS, into results.json",
    )
    args = parser.parse_args()
    if args.only_tls:
        # No database of its own: the connections go to the cluster's.
        write(merged(["tls"], args.out, args.work, seed=False), args.out)
    elif args.only:
        names = args.only.split(",")
        if unknown := set(names) - set(ALONE):
            raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
        params = {"soak": {"seconds": args.soak_minutes * 60}} if args.soak_minutes else None
        results = merged(names, args.out, args.work, params=params)
        write({**results, "date": time.strftime("%Y-%m-%d")}, args.out)
    elif args.report_only:
        report(json.loads((args.out / "results.json").read_text()), args.out, charts=None)
    else:
        full(args.quick, args.out, args.work)


if __name__ == "__main__":
    main()
