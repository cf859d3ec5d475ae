"""The database's own export rate: no service can stream the rows as JSON
faster than PostgreSQL produces them (bench/programs/copy_rates.py)."""


def phase_database_floor(service) -> dict:
    timings = dict(line.split() for line in service.program("copy_rates").splitlines())
    rows = service.rows
    return {f"{name}_rows_per_second": rows / float(seconds) for name, seconds in timings.items()}
