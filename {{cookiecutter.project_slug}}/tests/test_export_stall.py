"""Exports and clients that stop reading, on a served process: one user
cannot take every export slot, and an export whose client reads nothing for
EXPORT_STALL_SECONDS lets go of its slot and its database connection.

A client whose socket buffers fill needs a real server: the service runs in
a subprocess, on the test database.
"""

import asyncio
import contextlib
import time
from pathlib import Path

import anyio
import httpx
import pytest

from {{ cookiecutter.project_slug }}.seed import seed

from tests.helpers import reader_that_stops, serving
from tests.test_export_copy import _sessions, _wait_for_async

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# Longer than opening the stalled exports takes (a second each: see
# reader_that_stops), so that they are still held when the next one asks.
STALL_SECONDS = 6
PER_USER = 2
# Far more than the socket buffers between the server and a reader (a few
# MiB on loopback): 30,000 bookings are about 11 MB of NDJSON.
BOOKINGS = 30_000
STOPPED = "export stopped: the client read nothing for"


def _export_head(headers: dict[str, str]) -> bytes:
    return (
        "GET /api/admin/bookings/export?format=ndjson HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {headers['Authorization']}\r\n\r\n"
    ).encode()


async def _wait_for_lines(log: Path, text: str, count: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while (await anyio.Path(log).read_text()).count(text) < count:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _nothing_held(sessions: list[tuple[str, str]]) -> bool:
    """No session in a transaction: none running a COPY, none whose COPY is
    over on the server but whose rows still wait in buffers for the client."""
    return not any(
        state.startswith("idle in transaction") or query.startswith("COPY")
        for state, query in sessions
    )


async def _read_with_a_pause(
    http: httpx.AsyncClient, headers: dict[str, str], pause: float
) -> bytes:
    """An export read whole, with one pause once the socket buffers are full
    (uncompressed: gzipped, the whole file might fit in them)."""
    plain = {**headers, "Accept-Encoding": "identity"}
    url = "/admin/bookings/export?format=ndjson"
    async with http.stream("GET", url, headers=plain) as response:
        assert response.status_code == 200
        chunks = response.aiter_raw()
        body = [await anext(chunks)]
        await asyncio.sleep(pause)
        body.extend([chunk async for chunk in chunks])
    return b"".join(body)


async def test_a_user_who_stops_reading_holds_only_their_slots_and_briefly(
    app, make_user, database_url, tmp_path
):
    stalling = await make_user("stalls@example.org", admin=True)
    other = await make_user("other@example.org")
    await seed(app.state.engine, users=3, bookings=BOOKINGS, venues=2)
    postgresql = database_url.startswith("postgresql")
    env = {
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "RATE_LIMIT_ENABLED": "false",
        "MAX_CONCURRENT_EXPORTS": "4",
        "MAX_EXPORTS_PER_USER": str(PER_USER),
        "EXPORT_STALL_SECONDS": str(STALL_SECONDS),
    }
    log = tmp_path / "service.log"
    with serving(env, output=log) as (_process, base), contextlib.ExitStack() as readers:
        opened = time.monotonic()
        for _ in range(PER_USER):  # each gets its 200, then reads no more
            readers.enter_context(reader_that_stops(base, _export_head(stalling)))
        async with httpx.AsyncClient(base_url=f"{base}/api", timeout=60) as http:
            # Their next exports are refused, not anyone else's.
            more = await http.get("/admin/bookings/export", headers=stalling)
            assert more.status_code == 429
            assert more.json()["error"]["message"].startswith(f"You have {PER_USER} exports")
            assert (await http.get("/bookings/export", headers=other)).status_code == 200
            if postgresql:  # the stalled exports hold their transactions open
                assert not _nothing_held(await _sessions(app))
            # The stalled exports end, their readers still connected.
            stopped = await _wait_for_lines(log, STOPPED, PER_USER, STALL_SECONDS + 30)
            assert stopped, log.read_text()
            ended_after = time.monotonic() - opened
            if postgresql:  # their COPYs cancelled, their transactions over
                assert await _wait_for_async(lambda: _sessions(app), _nothing_held)
            # Their slots are free again; a pause shorter than the stall time is no stall.
            body = await _read_with_a_pause(http, stalling, STALL_SECONDS / 2)
            assert body.count(b"\n") == BOOKINGS
    # About the stall time after they stopped reading (generous: the machine is shared).
    assert STALL_SECONDS <= ended_after < STALL_SECONDS + 20, ended_after
    output = log.read_text()
    assert output.count(STOPPED) == PER_USER
    assert "Traceback" not in output
    # Dropped by the server, not left unfinished (which it would log as an error).
    assert "without completing response" not in output
