"""The PostgreSQL variant through a real PgBouncer in transaction pooling mode,
with the documented setting (DB_STATEMENT_CACHE_SIZE=0): migrations, CRUD,
lists by offset and cursor, exports, uploads, concurrent reads and the fault
tests, the generated suite's own, run against a database reached only
through the pooler. Skipped without pgbouncer unless REQUIRE_PGBOUNCER is
set (as in CI)."""

import os

import pytest

from harness import pgbouncer
from tests.conftest import assert_generated_tests_pass, bake
from tests.variants import Variant

# The generated test files that touch the database the way PgBouncer changes.
SUITE = (
    "tests/test_migrations.py",
    "tests/test_db.py",
    "tests/test_bookings.py",
    "tests/test_pagination.py",
    "tests/test_admin_and_venues.py",
    "tests/test_export.py",
    "tests/test_uploads.py",
    "tests/test_request_path.py",
    "tests/test_accounts.py",
    "tests/test_reliability.py",
    "tests/test_faults.py",
)


@pytest.fixture(scope="module")
def pooled_url(postgres_url, tmp_path_factory):
    if not pgbouncer.available():
        if os.environ.get("REQUIRE_PGBOUNCER"):
            pytest.fail("REQUIRE_PGBOUNCER is set but pgbouncer is not installed")
        pytest.skip("pgbouncer is not installed")
    directory = tmp_path_factory.mktemp("pgbouncer")
    url = pgbouncer.start(directory, postgres_url)
    yield url
    pgbouncer.stop(directory)


def test_generated_tests_pass_through_pgbouncer(
    cookies_session, venv_for, fresh_database, pooled_url
):
    project = bake(cookies_session, venv_for, Variant("postgresql", {"database": "postgresql"}))
    name = fresh_database(project.python, "t_pgbouncer").rsplit("/", 1)[1]
    env = {
        **os.environ,
        "TEST_DATABASE_URL": pooled_url.rsplit("/", 1)[0] + f"/{name}",
        "DB_STATEMENT_CACHE_SIZE": "0",
    }
    env.pop("TEST_DATABASE_ROOT_CERT", None)  # the pooler speaks plain TCP here
    assert_generated_tests_pass(project, env, *SUITE, label="[through PgBouncer]", timeout=900)
