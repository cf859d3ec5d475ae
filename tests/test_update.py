"""The update path: a project generated with cruft from a git checkout of
the template follows a later change of that template, keeping its own edits.
(The README's "Updating a generated project" describes the same steps.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CRUFT = str(Path(sys.executable).parent / "cruft")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.org",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.org",
}


def run(*command: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY},
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


def commit_all(repo: Path, message: str) -> str:
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-q", "-m", message, cwd=repo)
    return run("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()


def test_cruft_reports_and_applies_a_template_change(tmp_path):
    template = tmp_path / "template"
    run("git", "clone", "-q", str(REPO), str(template), cwd=tmp_path)
    first = run("git", "rev-parse", "HEAD", cwd=template).stdout.strip()

    run(
        CRUFT,
        "create",
        "-y",
        "--output-dir",
        str(tmp_path / "out"),
        template.as_uri(),
        cwd=tmp_path,
    )
    project = tmp_path / "out" / "lean_service"
    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["commit"] == first
    assert recorded["context"]["cookiecutter"]["database"] == "sqlite"  # the answers, kept
    run("git", "init", "-q", cwd=project)
    own_file = project / "src" / "lean_service" / "routers" / "venues.py"
    own_file.write_text(own_file.read_text() + "\n# our own change\n")
    commit_all(project, "generated, then edited")
    assert run(CRUFT, "check", cwd=project).returncode == 0

    # A later improvement of the template: a changed file and a new one.
    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA line added by the template.\n")
    (template / "{{cookiecutter.project_slug}}" / "CHANGES.md").write_text("# Changes\n")
    second = commit_all(template, "improve the template")

    stale = run(CRUFT, "check", cwd=project, check=False)
    assert stale.returncode != 0 and "out of date" in stale.stdout
    run(CRUFT, "update", "-y", cwd=project)
    assert (project / "README.md").read_text().endswith("A line added by the template.\n")
    assert (project / "CHANGES.md").exists()
    assert "# our own change" in own_file.read_text()  # the project's edit survives
    assert json.loads((project / ".cruft.json").read_text())["commit"] == second
    assert run(CRUFT, "check", cwd=project).returncode == 0
