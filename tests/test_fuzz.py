"""Schemathesis against the default variant's OpenAPI schema, served for real.

Every operation gets schema-driven and edge-case inputs, with an
administrator's token (and without one, for the auth check): no response
may be a 5xx, and every response must conform to what the schema documents
(status code, content type, body, headers). A fixed seed keeps the run
reproducible; the count of cases checked is printed and asserted.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests import pgcluster
from tests.conftest import bake
from tests.variants import Variant

DEFAULT = Variant("sqlite-fuzz")
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
]
# Left out: allow_header_conformance. A 405 lists the methods of the first
# route Starlette matches for the path, not of every route on it.
SEED = "20261128"
MIN_CASES = 1000


def test_no_server_errors_and_every_response_matches_the_schema(
    cookies_session, venv_for, tmp_path
):
    project = bake(cookies_session, venv_for, DEFAULT)
    cli = str(project.bin / project.cli_name)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "RATE_LIMIT_ENABLED": "false",  # thousands of requests from one client
        "MAX_UPLOAD_SIZE_MB": "1",
    }
    run = {"env": env, "check": True, "capture_output": True, "text": True, "timeout": 300}
    subprocess.run([cli, "migrate"], **run)
    token = subprocess.run([cli, "create-user", "fuzz@example.org", "--admin"], **run)
    subprocess.run([cli, "seed", "--users", "3", "--bookings", "50", "--venues", "3"], **run)
    port = pgcluster.free_port()
    # A file, not a pipe: thousands of access-log lines would fill a pipe
    # nobody reads until the end, and the server would block writing them.
    log_path = tmp_path / "server.log"
    log_file = log_path.open("wb")
    server = subprocess.Popen(
        [cli, "serve", "--port", str(port)], env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    try:
        st = Path(sys.executable).parent / "st"
        fuzz = subprocess.run(
            [
                str(st),
                "run",
                f"http://127.0.0.1:{port}/api/openapi.json",
                "--wait-for-schema=60",
                f"--header=Authorization: Bearer {token.stdout.strip().splitlines()[-1]}",
                f"--checks={','.join(CHECKS)}",
                "--phases=coverage,fuzzing,stateful",
                "--max-examples=40",
                f"--seed={SEED}",
                "--workers=2",
                "--no-color",
                "--generation-database=none",
            ],
            cwd=tmp_path,  # schemathesis keeps its state in the working directory
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
        log_file.close()
    log = log_path.read_text(errors="replace")
    report = fuzz.stdout[-8000:]
    assert fuzz.returncode == 0, report
    cases = re.search(r"(\d+) generated, (\d+) passed", fuzz.stdout)
    assert cases, report
    print(f"schemathesis: {cases.group(1)} cases, {cases.group(2)} passed")  # the README's figure
    assert int(cases.group(2)) >= MIN_CASES, report
    assert "Traceback" not in log, log[-4000:]
