"""What an open database connection costs the worker, plain and with TLS
(verify-full), in a fresh process each run (bench/programs/connection_cost.py)."""

from bench.figures import median_range

CONNECTIONS = 20


def _per_connection_kib(service, url: str, *tls: str) -> float:
    args = (service.slug, url, str(CONNECTIONS), *tls)
    return float(service.program("connection_cost", *args))


def phase_tls(service, *, runs: int) -> dict:
    # verify-full checks the host name: the test certificate names localhost.
    url = service.env["DATABASE_URL"].replace("@127.0.0.1:", "@localhost:")
    modes = {
        "plain": ("disable",),
        "tls": ("verify-full", str(service.pg_dir / "root.crt")),
    }
    per_connection = {
        name: [_per_connection_kib(service, url, *tls) for _ in range(runs)]
        for name, tls in modes.items()
    }
    return {
        "connections": CONNECTIONS,
        **{f"{name}_kib": median_range(values) for name, values in per_connection.items()},
    }
