"""Schemathesis against the OpenAPI document of a served project: the
default variant, and the same with two resources added by `new-resource`.

Every operation gets schema-driven, edge-case and negative inputs in every
phase (examples, coverage, fuzzing, stateful), with an administrator's token
(and without one, for the auth check), under every check schemathesis has:
no 5xx, responses exactly as documented (status, content type, body,
headers, Allow on 405), valid requests accepted and invalid ones refused.
A new random seed on every run, printed, so that a failure can be replayed
with LEAN_FUZZ_SEED=<seed>; the count of cases checked is asserted.
"""

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.project import REPO, install
from tests.conftest import bake
from tests.test_new_resource import INVOICES, ROOMS
from tests.variants import Variant

DEFAULT = Variant("sqlite-fuzz")
SEED = os.environ.get("LEAN_FUZZ_SEED") or str(random.SystemRandom().randrange(2**31))
MIN_CASES = 1000


@pytest.fixture(params=["default", "with-resources"])
def fuzzed(request, cookies_session, venv_for):
    project = bake(cookies_session, venv_for, DEFAULT)
    if request.param == "with-resources":
        for resource in (ROOMS, INVOICES):
            project.cli("new-resource", *resource, "--project", str(project.path), timeout=120)
        install(project.python, "--no-deps", "--reinstall", str(project.path))
    return project


def test_no_server_errors_and_every_response_matches_the_schema(fuzzed, tmp_path):
    project = fuzzed
    print(f"schemathesis seed {SEED} (replay with LEAN_FUZZ_SEED={SEED})")
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "RATE_LIMIT_ENABLED": "false",  # thousands of requests from one client
        "MAX_UPLOAD_SIZE_MB": "1",
    }
    project.cli("migrate", env=env, timeout=300)
    token = project.token("fuzz@example.org", "--admin", env=env, timeout=300)
    seed = ("seed", "--users", "3", "--bookings", "50", "--venues", "3")
    project.cli(*seed, env=env, timeout=300)
    # The server's log is a file (thousands of access-log lines), read at the end.
    with project.serve(env=env, log=tmp_path / "server.log") as server:
        # Stateful sequences follow the document's own links (POST -> read,
        # update, delete by the new id). Schemathesis's inference would also
        # guess links from any `id` in a response, such as a booking item's.
        config = tmp_path / "schemathesis.toml"
        config.write_text("[phases.stateful.inference]\nalgorithms = []\n")
        st = Path(sys.executable).parent / "st"
        fuzz = subprocess.run(
            [
                str(st),
                f"--config-file={config}",
                "run",
                server.url("/api/openapi.json"),
                "--wait-for-schema=60",
                f"--header=Authorization: Bearer {token}",
                "--checks=all",
                "--phases=examples,coverage,fuzzing,stateful",
                "--max-examples=40",
                f"--seed={SEED}",
                # One worker: with two threads, Hypothesis once crashed inside
                # CPython 3.11's ast.parse (the interpreter's error, not the service's).
                "--workers=1",
                "--no-color",
                "--generation-database=none",
                # Logging out would revoke the token every later request uses;
                # logout is tested in the generated project (test_accounts.py).
                "--exclude-operation-id=auth_logout",
            ],
            cwd=tmp_path,  # schemathesis keeps its state in the working directory
            # The API's rules that JSON Schema cannot state (tests/fuzz_hooks.py).
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=900,
        )
    log = server.output()
    report = fuzz.stdout[-8000:]
    assert fuzz.returncode == 0, report
    cases = re.search(r"(\d+) generated, (\d+) passed", fuzz.stdout)
    assert cases, report
    print(f"schemathesis: {cases.group(1)} cases, {cases.group(2)} passed")  # the README's figure
    assert int(cases.group(2)) >= MIN_CASES, report
    assert "Traceback" not in log, log[-4000:]
