"""The service the benchmark measures, as every phase receives it.

The PostgreSQL variant rendered and installed in a virtual environment of
its own (harness/project.py), with a seeded `bench` database, served one
server at a time: starting one stops the one still running. Phases also
find here the caller's headers, the scratch directory and the charts.
"""

import os
from pathlib import Path

from bench.load import pinned
from harness import pgcluster
from harness.project import Project, bearer, create_venv, install, render
from harness.server import Server

PROGRAMS = Path(__file__).resolve().parent / "programs"
CURSOR_SECRET = "bench-secret-not-for-production"
USER = "bench@example.org"


class Service:
    def __init__(self, work: Path, pg_dir: Path, database_url: str) -> None:
        self.work, self.pg_dir = work, pg_dir
        self.upload_dir = work / "uploads"
        path = render(work, {"database": "postgresql", "with_docker": "no"})
        python = create_venv(work / "venv")
        install(python, f"{path}[loadtest]")  # httpx, for the soak's load
        env = {
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
        self.project = Project(path=path, slug=path.name, python=python, env=env)
        self.server: Server | None = None
        self.headers: dict[str, str] = {}
        self.charts: dict[str, list] = {}
        self.rows = 0  # bookings in the database

    @property
    def python(self) -> Path:
        return self.project.python

    @property
    def slug(self) -> str:
        return self.project.slug

    @property
    def env(self) -> dict[str, str]:
        return self.project.env

    def run(self, *args: str, stdin: str | None = None) -> str:
        """A CLI command's output (no time limit: seeding a million rows takes a while)."""
        return self.project.cli(*args, stdin=stdin, timeout=None).stdout

    def program(self, name: str, *args: str) -> str:
        """What bench/programs/<name>.py prints, run with the service's interpreter."""
        return self.project.script(PROGRAMS / f"{name}.py", *args, timeout=None)

    def prepare_database(self, rows: int) -> None:
        """A `bench` database, migrated and seeded; the benchmark user (an
        administrator, whose headers phases use) owns one booking in 50."""
        url = self.env["DATABASE_URL"]
        self.env["DATABASE_URL"] = pgcluster.create_database(self.python, url, "bench")
        self.run("migrate")
        self.headers = bearer(self.project.token(USER, "--admin", timeout=None))
        self.seed(rows)
        self.program("own_bookings", USER)

    def seed(self, bookings: int) -> None:
        self.run("seed", "--users", "1000", "--bookings", str(bookings), "--venues", "100")
        self.rows = bookings

    def start(self, *serve_args: str, env: dict | None = None, cpu: str | None = None) -> None:
        """Serve (one uvicorn worker unless `serve_args` say otherwise) until
        /health answers; on core `cpu` alone when given."""
        self.stop()
        self.server = self.project.serve(
            "--log-level", "warning", *serve_args, env=env, prefix=pinned([], cpu) if cpu else None
        )

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None

    @property
    def pid(self) -> int:
        return self.server.pid

    @property
    def port(self) -> int:
        return self.server.port
