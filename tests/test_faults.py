"""A real PostgreSQL stopped and started under a running service, and a
shutdown in the middle of a request.

While the database is down, or hung, requests that need it get a JSON 503
and readiness fails; when it is back, the same process serves again, and a
restart costs no failed GET. On SIGTERM the request in flight runs to its
end before the process exits.
"""

import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness import pgcluster
from harness.project import bearer
from harness.server import Server
from tests.conftest import bake, wait_until
from tests.variants import Variant

POSTGRESQL = Variant("postgresql-faults", {"database": "postgresql", "with_docker": "no"})
BOOKINGS = 20_000


@dataclass
class Served:
    """The service as these tests reach it: its server, its cluster, a token."""

    server: Server
    cluster: Path
    headers: dict[str, str]

    @property
    def base(self) -> str:
        return self.server.url("/api")

    @property
    def process(self) -> subprocess.Popen:
        return self.server.process

    def get(self, path: str, **kwargs) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def service(cookies_session, venv_for, tmp_path_factory):
    project = bake(cookies_session, venv_for, POSTGRESQL)
    cluster = tmp_path_factory.mktemp("faults-pg")
    # The recovery check polls the same route many times a second.
    project.env |= {
        "DATABASE_URL": pgcluster.start(cluster),
        "DB_POOL_TIMEOUT": "5",
        "DB_STATEMENT_TIMEOUT_SECONDS": "2",
        "RATE_LIMIT_ENABLED": "false",
    }
    try:
        project.cli("migrate", timeout=300)
        headers = bearer(project.token("ops@example.org", "--admin", timeout=300))
        project.cli("seed", "--users", "10", "--bookings", str(BOOKINGS), "--venues", "3")
        log = tmp_path_factory.mktemp("faults-log") / "server.log"
        with project.serve(log=log, health="/api/health/ready") as server:
            yield Served(server, cluster, headers)
    finally:
        pgcluster.stop(cluster)


def test_database_down_gives_503_and_the_service_recovers_without_restart(service):
    assert service.get("/bookings").status_code == 200
    pgcluster.pause(service.cluster)
    try:
        down = service.get("/bookings")
        ready = service.get("/health/ready")
        live = service.get("/health")
    finally:
        pgcluster.resume(service.cluster)
    assert down.status_code == 503, down.text
    assert down.json()["error"]["code"] == "database_unavailable"
    assert down.headers["retry-after"] == "5"
    assert ready.status_code == 503 and live.status_code == 200
    # Back: the pool replaces its dead connections on its own.
    wait_until(lambda: service.get("/bookings").status_code == 200, service.server)
    assert service.get("/health/ready").status_code == 200
    assert service.process.poll() is None


def test_a_hung_database_gives_503_within_the_statement_timeout(service):
    # Connected, but never answering (SIGSTOP): without a statement timeout
    # requests wait for as long as the database does.
    assert service.get("/bookings").status_code == 200
    pgcluster.freeze(service.cluster)
    try:
        with ThreadPoolExecutor(3) as pool:
            hung = list(pool.map(service.get, ["/bookings", "/admin/bookings", "/health/ready"]))
    finally:
        pgcluster.thaw(service.cluster)
    for response in hung[:2]:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "database_unavailable"
        assert response.headers["retry-after"] == "5"
    assert hung[2].status_code == 503
    wait_until(lambda: service.get("/bookings").status_code == 200, service.server)
    assert service.get("/health/ready").status_code == 200


def _statuses(service, paths: list[str]) -> list[int]:
    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(lambda path: service.get(path).status_code, paths))


def test_a_restart_costs_no_failed_get(service):
    # Several requests at once: the pool holds several connections, all of
    # which the restart kills. Without pre-ping, each read that finds its
    # connection dead runs once more on a fresh one.
    assert _statuses(service, ["/bookings"] * 12) == [200] * 12
    pgcluster.pause(service.cluster)
    pgcluster.resume(service.cluster)
    paths = ["/bookings", "/admin/bookings", "/venues", "/health/ready"] * 3
    assert _statuses(service, paths) == [200] * len(paths)


def test_sigterm_lets_the_request_in_flight_finish(service):
    lines = 0
    with httpx.stream(
        "GET",
        f"{service.base}/admin/bookings/export?format=ndjson",
        headers=service.headers,
        timeout=60,
    ) as response:
        assert response.status_code == 200
        for number, line in enumerate(response.iter_lines()):
            if number == 0:
                service.server.terminate()  # SIGTERM, mid-stream
            lines += bool(line)
    service.process.wait(timeout=60)
    output = service.server.output()
    assert lines == BOOKINGS  # every row arrived
    # The lifespan ran to its end (the pool is disposed there); uvicorn then
    # re-raises the signal it caught, so the status may say SIGTERM.
    assert "Application shutdown complete" in output, output
    assert service.process.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output
