"""The report: results.json as a markdown table (bench/rows.py), written to
results.md and, for a full run into bench/, between the README's markers.

The same results give the same bytes: check a change here with
`bench/run.py --report-only` and a diff of results.md.
"""

from pathlib import Path

from bench.chart import write_chart
from bench.rows import SECTIONS

BENCH = Path(__file__).resolve().parent
README = BENCH.parent / "README.md"
HEADER = "| measure | result | target | |\n|---|---|---|---|"
MARKERS = ("<!-- bench:start -->", "<!-- bench:end -->")


def head(results: dict) -> str:
    m = results["machine"]
    return (
        f"Measured {results['date']} by `python3 bench/run.py{' --quick' if results['quick'] else ''}` on "
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"PostgreSQL {m['postgresql']} on 127.0.0.1; one uvicorn worker; "
        f"{results['runs']} run(s) per figure."
    )


def markdown(results: dict) -> str:
    rows = [row.markdown() for section in SECTIONS for row in section(results["phases"])]
    return head(results) + "\n\n" + "\n".join([HEADER, *rows]) + "\n"


def update_readme(table: str) -> None:
    text = README.read_text()
    start, end = MARKERS
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        README.write_text(f"{before}{start}\n{table}{end}{after}")


def report(results: dict, out: Path, charts: dict | None) -> None:
    """Write results.md (and, for a full run into bench/, the README table);
    the chart too when there are new samples (else the one there is kept)."""
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
