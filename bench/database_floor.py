"""The database's own export rate: no service can stream the rows as JSON
faster than PostgreSQL produces them (bench/programs/copy_rates.py)."""


def phase_database_floor(service, *, runs: int) -> dict:
    output = service.program("copy_rates", service.slug, "--runs", str(runs))
    timings = dict(line.split() for line in output.splitlines())
    rows = service.rows
    return {f"{name}_rows_per_second": rows / float(seconds) for name, seconds in timings.items()}
