"""Small builders shared by the tests."""

import contextlib
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, event, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

from {{ cookiecutter.project_slug }}.db import SessionDep
from {{ cookiecutter.project_slug }}.models import User
from {{ cookiecutter.project_slug }}.users import create_user

# METRICS_TOKEN of the test settings: what a Prometheus scrape would send.
OPS_TOKEN = "ops-token-for-the-tests"
OPS = {"Authorization": f"Bearer {OPS_TOKEN}"}
PROJECT = Path(__file__).resolve().parents[1]


class Explain(Executable, ClauseElement):
    """The plan of a statement, its parameters bound as the app binds them:
    EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL (as one JSON
    document when `as_json`)."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement, as_json: bool = False) -> None:
        self.statement, self.as_json = statement, as_json


@compiles(Explain)
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    if compiler.dialect.name == "sqlite":
        prefix = "EXPLAIN QUERY PLAN "
    else:
        prefix = "EXPLAIN (FORMAT JSON) " if element.as_json else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


async def bearer(app, email: str, admin: bool = False) -> dict[str, str]:
    """Authorization headers of a new user of `app`."""
    token = await create_user(app.state.engine, email, is_admin=admin)
    return {"Authorization": f"Bearer {token}"}


async def create_upload(
    client, api, headers, name: str = "notes.txt", content: bytes = b"some text"
) -> dict[str, Any]:
    """Upload a small file: the route every project has that writes a row."""
    files = {"file": (name, content, "text/plain")}
    response = await client.post(f"{api}/uploads", files=files, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@contextlib.contextmanager
def deleting_before_flush(model: Any):
    """While open, each flush first deletes the `model` rows it writes, as a
    request that committed a DELETE between this one's read and its write would have."""

    def delete_first(session, _flush_context, _instances):
        for row in [*session.dirty, *session.deleted]:
            if isinstance(row, model):
                session.connection().execute(delete(model).where(model.id == row.id))

    event.listen(Session, "before_flush", delete_first)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", delete_first)


@contextlib.contextmanager
def reader_that_stops(base: str, head: bytes):
    """A client that sends `head` to the server at `base`, reads the status
    line, then nothing more, with a small receive buffer: once a second has
    filled the socket buffers, the response waits on it."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as reader:
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.sendall(head)
        assert reader.recv(12) == b"HTTP/1.1 200"
        time.sleep(1)
        yield


async def load_every_user(session: SessionDep) -> dict[str, Any]:
    """A route written the way the scaffolds never are: the whole table in memory."""
    users = (await session.scalars(select(User))).all()
    return {"count": len(users)}


async def export_both_ways(app, client, headers, url: str) -> tuple[bytes, bytes]:
    """(the body written by PostgreSQL's COPY, the body written row by row)
    of one export of the same rows; on SQLite both are row by row."""
    bodies, settings = [], app.state.settings
    try:
        for with_copy in (True, False):
            app.state.settings = settings.model_copy(update={"export_with_copy": with_copy})
            response = await client.get(url, headers=headers)
            assert response.status_code == 200, response.text
            bodies.append(response.content)
    finally:
        app.state.settings = settings
    return bodies[0], bodies[1]


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


def assert_error(response, status: int, code: str) -> dict[str, Any]:
    """The service's JSON error shape, with the expected status and code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    # The id the response and the logs carry (logs.py), for a report to quote.
    assert body["error"]["request_id"] == response.headers["x-request-id"], body
    error: dict[str, Any] = body["error"]
    return error


def clear_of_a_window_edge(margin: float = 5.0, period: int = 60) -> float:
    """Seconds to wait before counting requests up to a rate limit.

    limits' sliding window counter counts in windows aligned on the clock and,
    right after an edge, lets one request more through than the limit (it rounds
    the previous window's weighted count down). A test that expects the exact
    request to be refused starts where the next edge is more than `margin` away."""
    left = period - time.time() % period
    return left + 0.05 if left < margin else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(
    env: dict[str, str],
    *serve_args: str,
    output: Path | None = None,
    prefix: tuple[str, ...] = (),
):
    """Run `serve` in a subprocess (`prefix`: a command it runs under, such
    as prlimit); yield (process, base URL) once it answers. Its output goes to
    the file `output`, if given."""
    port = free_port()
    command = [*prefix, sys.executable, "-m", "{{ cookiecutter.project_slug }}", "serve"]
    log = output.open("wb") if output else None
    process = subprocess.Popen(
        [*command, "--port", str(port), *serve_args],
        env={**os.environ, **env},
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/health", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the service did not start") from None
                time.sleep(0.1)
        yield process, base
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        if log:
            log.close()


def copy_project(destination: Path) -> Path:
    """This project's settings files, sources, tests and documents, copied to
    `destination`, for tests that change files (the project itself never changes)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "alembic.ini", "README.md"):
        shutil.copy(PROJECT / name, destination)
    for part in ("src", "tests", "docs"):
        shutil.copytree(PROJECT / part, destination / part, ignore=ignore)
    return destination
