"""The generated project with uv, as its CI workflow and Dockerfile use it:
the workflow's lint job run step by step (first without a lock, which makes
one, then with it, locked), the container's locked install, and `uv run`."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO


@pytest.fixture(scope="module")
def project(cookies_session, tmp_path_factory) -> Path:
    result = cookies_session.bake(template=str(REPO))
    assert result.exit_code == 0, result.exception
    path = tmp_path_factory.mktemp("uv") / "service"
    shutil.copytree(result.project_path, path)
    return path


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """uv on PATH, and this Python for it (setup-uv's python-version in CI)."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    path = f"{Path(uv).parent}{os.pathsep}{os.environ['PATH']}"
    drop = ("VIRTUAL_ENV", "TEST_DATABASE_URL", "UV_PROJECT_ENVIRONMENT")
    kept = {key: value for key, value in os.environ.items() if key not in drop}
    return {**kept, "PATH": path, "UV_PYTHON": sys.executable}


def _run(script: str, project: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _lint_job_steps(project: Path) -> list[str]:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    return [step["run"] for step in workflow["jobs"]["lint"]["steps"] if "run" in step]


def test_the_ci_lint_job_passes_without_then_with_a_lock(project, env):
    steps = _lint_job_steps(project)
    assert any("mypy" in step for step in steps), steps
    for step in steps:  # no uv.lock yet: resolved from pyproject.toml, and locked
        _run(step, project, env)
    assert (project / "uv.lock").is_file()
    for step in steps:  # now with the lock: installed exactly, checked to be current
        _run(step, project, env)


def test_a_stale_lock_fails_the_locked_install(project, env, tmp_path):
    stale = tmp_path / "stale"
    shutil.copytree(project, stale, ignore=shutil.ignore_patterns(".venv", ".*_cache"))
    if not (stale / "uv.lock").exists():
        _run("uv lock", stale, env)
    pyproject = stale / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"tqdm>=4.70"', '"tqdm>=4.66"'))
    done = subprocess.run(
        ["uv", "sync", "--locked", "--extra", "dev"], cwd=stale, env=env, capture_output=True
    )
    assert done.returncode != 0


def test_the_container_installs_what_the_lock_pins(project, env, tmp_path):
    """The Dockerfile's locked install, into a fresh environment: the service
    and the PostgreSQL driver at the locked versions, without the dev tools."""
    if not (project / "uv.lock").exists():
        _run("uv lock", project, env)
    dockerfile = (project / "Dockerfile").read_text()
    (command,) = re.findall(r"UV_PROJECT_ENVIRONMENT=/opt/venv (uv sync [^;]+);", dockerfile)
    target = tmp_path / "venv"
    _run(f"UV_PROJECT_ENVIRONMENT={target} {command}", project, env)
    python = str(target / "bin" / "python")
    show = "import importlib.metadata as m; print(m.version('asyncpg'), m.version('fastapi'))"
    installed = subprocess.run([python, "-c", show], capture_output=True, text=True, check=True)
    lock = (project / "uv.lock").read_text()
    for name, version in zip(("asyncpg", "fastapi"), installed.stdout.split(), strict=True):
        assert f'name = "{name}"\nversion = "{version}"' in lock
    assert not (target / "bin" / "pytest").exists()
    subprocess.run([python, "-c", "import lean_service.app"], check=True)


def test_uv_run_runs_the_tests(project, env):
    output = _run("uv run pytest -q -p no:cacheprovider tests/test_health.py", project, env)
    assert " passed" in output and " failed" not in output
