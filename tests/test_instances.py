"""Two real instances of the PostgreSQL variant, each its own server process
with its own caches, on one database and one real redis-server: a logout on
one is refused by the other at once, a booking created on one shows in the
other's cached total, and a cursor one signed pages on the other. The
caches' lifetimes are long here: without Redis the second instance would
keep the old answers for minutes. Skipped without redis-server unless
REQUIRE_REDIS is set (as in CI)."""

import os
import shutil
import subprocess
import time

import httpx
import pytest

from harness.project import bearer
from harness.server import free_port
from tests.conftest import bake
from tests.variants import Variant

SETTINGS = {
    "AUTH_CACHE_SECONDS": "300",
    "COUNT_CACHE_SECONDS": "300",
    "CURSOR_SECRET": "one-secret-for-every-instance-0123456789",
    "LOG_LEVEL": "warning",
}


@pytest.fixture
def redis_url(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("REQUIRE_REDIS"):
            pytest.fail("REQUIRE_REDIS is set but redis-server is not installed")
        pytest.skip("needs redis-server")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=30)


def eventually(check, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the other instance did not follow in time"
        time.sleep(0.02)


def test_two_instances_agree(cookies_session, venv_for, fresh_database, redis_url):
    project = bake(cookies_session, venv_for, Variant("postgresql", {"database": "postgresql"}))
    env = {
        **SETTINGS,
        "DATABASE_URL": fresh_database(project.python, "t_instances"),
        "BROADCAST_URL": redis_url,
    }
    project.cli("migrate", env=env)
    kim = bearer(project.token("kim@example.org", env=env))
    with project.serve(env=env) as one, project.serve(env=env) as two:
        api_one, api_two = one.url("/api"), two.url("/api")
        for api in (api_one, api_two):  # kim's token cached by both
            assert httpx.get(f"{api}/bookings", headers=kim).status_code == 200

        for title in ("first", "second", "third"):
            body = {
                "title": title,
                "start_datetime": "2030-01-01T10:00:00Z",
                "end_datetime": "2030-01-01T11:00:00Z",
            }
            created = httpx.post(f"{api_one}/bookings", json=body, headers=kim)
            assert created.status_code == 201, created.text
        first = httpx.get(f"{api_two}/bookings", params={"page_size": 2}, headers=kim).json()
        assert first["pagination"]["total"] == 3
        # Signed by the second instance, read by the first.
        cursor = first["pagination"]["next_cursor"]
        rest = httpx.get(f"{api_one}/bookings", params={"cursor": cursor}, headers=kim)
        assert rest.status_code == 200 and len(rest.json()["items"]) == 1

        # One more booking on the first: the second's cached total follows.
        created = httpx.post(f"{api_one}/bookings", json=body, headers=kim)
        assert created.status_code == 201, created.text

        def recounted() -> bool:
            page = httpx.get(f"{api_two}/bookings", headers=kim).json()
            return page["pagination"]["total"] == 4

        eventually(recounted)

        # A logout on the first: the second refuses the token too.
        assert httpx.post(f"{api_one}/auth/logout", headers=kim).status_code == 204
        eventually(lambda: httpx.get(f"{api_two}/bookings", headers=kim).status_code == 401)
