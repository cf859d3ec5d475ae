"""The database work of a request: how many statements each kind sends (the
token and count caches let most reads send one), how long those caches may be
stale, that a slow client holds no pooled connection, and that a connection
which died in the pool costs a GET nothing."""

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from {{ cookiecutter.project_slug }}.models import table_of
from {{ cookiecutter.project_slug }}.resources.bookings import Booking, new_reference
from {{ cookiecutter.project_slug }}.users import revoke_token

from tests.conftest import client_for
from tests.example import create_booking
from tests.helpers import assert_error, bearer

pytestmark = pytest.mark.anyio

TWO_ITEMS = [
    {"name": "Projector", "quantity": 1, "unit_price": "12.50"},
    {"name": "Chair", "quantity": 10, "unit_price": "1.00"},
]


@contextlib.contextmanager
def _recorded(app, event_name: str, pick: Callable[..., Any]) -> Iterator[list[Any]]:
    """What `pick` takes from each `event_name` event of the app's engine inside
    the block (the Reader's autocommit engine shares these events)."""
    seen: list[Any] = []

    def record(*args: Any) -> None:
        seen.append(pick(*args))

    engine = app.state.engine.sync_engine
    event.listen(engine, event_name, record)
    try:
        yield seen
    finally:
        event.remove(engine, event_name, record)


def statements(app) -> contextlib.AbstractContextManager[list[str]]:
    """The SQL of every statement sent inside the block, so a failed assertion
    on how many shows which."""
    return _recorded(app, "before_cursor_execute", lambda _conn, _cursor, sql, *_: sql)


def token_lookups(sql: list[str]) -> list[str]:
    return [statement for statement in sql if "FROM tokens" in statement]


def touches(sql: list[str]) -> list[str]:
    """A token's last use, recorded at most once per auth.LAST_USED_EVERY."""
    return [statement for statement in sql if statement.startswith("UPDATE tokens")]


def counts(sql: list[str]) -> list[str]:
    return [statement for statement in sql if "count(" in statement.lower()]


@contextlib.asynccontextmanager
async def separate_connection(app):
    """A connection of another engine on the same database: what it writes, the
    service does not see being written (as with another worker). Autocommit:
    each statement commits, and sees the database as it is now."""
    engine = create_async_engine(app.state.settings.database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn
    finally:
        await engine.dispose()


async def insert_behind_the_back(app, like: dict[str, Any]) -> None:
    """One more booking of the owner of `like` (a booking as the API returned
    it), written around the service."""
    start, end = (datetime.fromisoformat(like[name]) for name in ("start_datetime", "end_datetime"))
    now = datetime.now(UTC)
    async with separate_connection(app) as conn:
        await conn.execute(
            insert(table_of(Booking)).values(
                booking_reference=new_reference(),
                user_id=like["user_id"],
                title="written around the service",
                status="pending",
                start_datetime=start,
                end_datetime=end,
                created_at=now,
                updated_at=now,
            )
        )


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("path", ["/bookings", "/admin/bookings", "/bookings/{id}"])
async def test_a_warm_read_sends_one_statement(app, client, api, alice, admin, path):
    booking = await create_booking(client, api, alice, items=TWO_ITEMS)
    url = api + path.format(id=booking["id"])
    headers = admin if path.startswith("/admin") else alice
    # The same request once before: the token and the list's total are cached.
    assert (await client.get(url, headers=headers)).status_code == 200
    with statements(app) as sql:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert len(sql) == 1, sql
    body = response.json()
    if path == "/bookings/{id}":
        assert len(body["items"]) == 2
    else:
        assert body["pagination"]["total"] == 1  # the default total, from the cache


def executed(app) -> contextlib.AbstractContextManager[list[Any]]:
    """The statement objects executed inside the block."""
    return _recorded(app, "before_execute", lambda _conn, statement, *_: statement)


@pytest.mark.parametrize(
    "path",
    [
        "/bookings?status=pending",
        "/bookings?status=pending&page=2&with_total=true",
        "/bookings/{id}",
        "/admin/bookings?user_id={user}&start_from=2000-01-01T00:00:00Z",
        "/venues",
    ],
)
async def test_reads_reuse_their_statements(app, client, api, alice, bob, admin, path):
    """The statements of a read are built once, for every user and value: their
    values are bound parameters (see reads.py), so a request builds no SQL and
    derives no cache key. Two users' same read executes the same objects."""
    venue = await client.post(f"{api}/venues", json={"name": "Hall"}, headers=admin)
    assert venue.status_code == 201, venue.text
    sent = []
    for user in (alice, bob):
        booking = await create_booking(client, api, user, venue_id=venue.json()["id"])
        url = api + path.format(id=booking["id"], user=booking["user_id"])
        headers = admin if path.startswith("/admin") else user
        app.state.cache.clear()  # the venues' page cache would answer without a statement
        with executed(app) as statements_of_read:
            response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        sent.append([s for s in statements_of_read if "tokens" not in str(s)])
    # The second read may find its total cached: it sends no statement the first did not.
    assert sent[1], "no statement recorded"
    assert {id(s) for s in sent[1]} <= {id(s) for s in sent[0]}, sent


async def test_concurrent_reads_all_succeed(client, api, alice, admin):
    """Many reads at once over the few pooled connections. Behind PgBouncer in
    transaction mode (DB_STATEMENT_CACHE_SIZE=0) a read outside a transaction
    fails here: its statement is prepared on one server connection and run
    on another (db.read_engine)."""
    booking = await create_booking(client, api, alice, items=TWO_ITEMS)
    urls = [
        (f"{api}/bookings?page_size=5", alice),
        (f"{api}/bookings/{booking['id']}", alice),
        (f"{api}/admin/bookings?page_size=5&with_total=true", admin),
    ]
    responses = await asyncio.gather(
        *(client.get(url, headers=headers) for url, headers in urls * 15)
    )
    assert [r.status_code for r in responses] == [200] * len(responses), [
        r.text for r in responses if r.status_code != 200
    ][:3]


async def test_a_create_sends_at_most_three_statements(app, client, api, alice, admin):
    venue = await client.post(f"{api}/venues", json={"name": "Main hall"}, headers=admin)
    assert venue.status_code == 201, venue.text
    assert (await client.get(f"{api}/bookings?with_total=false", headers=alice)).status_code == 200
    body = {"venue_id": venue.json()["id"], "items": TWO_ITEMS}
    with statements(app) as sql:
        created = await create_booking(client, api, alice, **body)
    # The venue check, the booking, its items (one INSERT for both).
    assert len(sql) <= 3, sql
    assert len(created["items"]) == 2


async def test_a_write_drops_the_cached_total(app, client, api, alice):
    await create_booking(client, api, alice, title="first")
    url = f"{api}/bookings"
    assert (await client.get(url, headers=alice)).json()["pagination"]["total"] == 1
    await create_booking(client, api, alice, title="second")
    with statements(app) as sql:
        response = await client.get(url, headers=alice)
    assert response.json()["pagination"]["total"] == 2
    assert len(sql) == 2 and len(counts(sql)) == 1, sql  # the page, then a new COUNT


# ---------------------------------------------------------------- the token cache


async def test_a_cached_token_costs_no_statement(app, client, api, alice):
    url = f"{api}/bookings?with_total=false"  # a page, no COUNT
    with statements(app) as cold:
        assert (await client.get(url, headers=alice)).status_code == 200
    assert len(token_lookups(cold)) == 1, cold
    with statements(app) as warm:
        assert (await client.get(url, headers=alice)).status_code == 200
    assert token_lookups(warm) == [] and len(warm) == 1, warm


async def test_an_unknown_token_is_looked_up_once(app, client, api):
    url = f"{api}/bookings"
    unknown = {"Authorization": "Bearer not-a-real-token"}
    with statements(app) as cold:
        assert_error(await client.get(url, headers=unknown), 401, "unauthorized")
    assert len(cold) == 1 and len(token_lookups(cold)) == 1, cold
    # Remembered as unknown: a client repeating a bad token costs no query.
    with statements(app) as repeated:
        assert_error(await client.get(url, headers=unknown), 401, "unauthorized")
    assert repeated == []


async def test_a_replaced_token_works_until_its_cache_entry_expires(app_with, api):
    # Long enough that the two requests after the first surely fall within it
    # on a busy machine; the test sleeps past it once.
    ttl = 1.0
    async with app_with(auth_cache_seconds=ttl) as app, client_for(app) as client:
        email = "carol@example.org"
        old = await bearer(app, email)
        url = f"{api}/bookings?with_total=false"
        assert (await client.get(url, headers=old)).status_code == 200  # now cached
        new = {"Authorization": f"Bearer {await revoke_token(app.state.engine, email)}"}
        assert (await client.get(url, headers=old)).status_code == 200  # still cached
        assert (await client.get(url, headers=new)).status_code == 200
        await asyncio.sleep(ttl + 0.3)
        assert_error(await client.get(url, headers=old), 401, "unauthorized")
        assert (await client.get(url, headers=new)).status_code == 200


async def test_auth_cache_seconds_0_looks_every_token_up(app_with, api):
    async with app_with(auth_cache_seconds=0) as app, client_for(app) as client:
        headers = await bearer(app, "dave@example.org")
        url = f"{api}/bookings?with_total=false"
        for attempt in range(3):
            with statements(app) as sql:
                assert (await client.get(url, headers=headers)).status_code == 200
            # The token's first use is recorded; the next ones are too recent.
            assert len(touches(sql)) == (attempt == 0), sql
            assert len(sql) - len(touches(sql)) == 2 and len(token_lookups(sql)) == 1, sql


# ---------------------------------------------------------------- the count cache


async def test_the_default_total_may_be_cached_with_total_true_is_exact(app, client, api, alice):
    booking = await create_booking(client, api, alice)
    url = f"{api}/bookings"
    assert (await client.get(url, headers=alice)).json()["pagination"]["total"] == 1
    await insert_behind_the_back(app, booking)
    cached = (await client.get(url, headers=alice)).json()
    # The page is read now, its total came from the cache.
    assert (len(cached["items"]), cached["pagination"]["total"]) == (2, 1)
    exact = (await client.get(f"{url}?with_total=true", headers=alice)).json()
    assert exact["pagination"]["total"] == 2


async def test_count_cache_seconds_0_counts_every_page(app_with, api):
    async with app_with(count_cache_seconds=0) as app, client_for(app) as client:
        headers = await bearer(app, "erin@example.org")
        booking = await create_booking(client, api, headers)
        url = f"{api}/bookings"
        assert (await client.get(url, headers=headers)).json()["pagination"]["total"] == 1
        await insert_behind_the_back(app, booking)
        with statements(app) as sql:
            page = (await client.get(url, headers=headers)).json()
        assert page["pagination"]["total"] == 2
        assert len(counts(sql)) == 1, sql


async def test_concurrent_requests_share_one_count(app_with, api):
    # One connection: reads queue in arrival order, so every request has read
    # its page and waits for the total before the first COUNT can run; eight
    # COUNTs unless they share one.
    async with app_with(db_pool_size=1) as app, client_for(app) as client:
        headers = await bearer(app, "frank@example.org")
        await create_booking(client, api, headers)  # also caches the token
        with statements(app) as sql:
            responses = await asyncio.gather(
                *(client.get(f"{api}/bookings", headers=headers) for _ in range(8))
            )
        assert [r.json()["pagination"]["total"] for r in responses] == [1] * 8
        assert len(counts(sql)) == 1, sql


# ---------------------------------------------------------------- the pool


async def test_slow_uploads_hold_no_connection(app_with, api):
    settings = {"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 0.5}
    async with app_with(**settings, rate_limit_enabled=False) as app, client_for(app) as client:
        # Neither token is cached yet: the token lookup while a body streams is
        # the read that used to keep its connection for the whole upload.
        uploader = await bearer(app, "uploader@example.org")
        lister = await bearer(app, "lister@example.org")
        headers = {
            **uploader,
            "Content-Type": "application/octet-stream",
            "X-Filename": "slow.bin",
        }

        async def slow_body():  # about 2 s per upload, sent chunk by chunk
            for _ in range(8):
                yield b"x" * 1024
                await asyncio.sleep(0.25)

        async def upload():
            return await client.post(f"{api}/uploads", content=slow_body(), headers=headers)

        lists = []
        uploads_done = asyncio.Event()

        async def keep_listing():
            while not uploads_done.is_set():
                lists.append(await client.get(f"{api}/bookings", headers=lister))
                await asyncio.sleep(0.1)

        listing = asyncio.create_task(keep_listing())
        try:
            uploads = await asyncio.gather(*(upload() for _ in range(6)))
        finally:
            uploads_done.set()
            await listing
        assert [r.status_code for r in uploads] == [201] * 6, [r.text for r in uploads]
        assert len(lists) >= 5  # listed all along, not only after the uploads
        failed = [(r.status_code, r.text) for r in lists if r.status_code != 200]
        assert failed == [], failed


async def _fill_pool(client, urls: list[str], headers) -> None:
    """Concurrent reads: the pool opens several connections and keeps them."""
    responses = await asyncio.gather(*(client.get(url, headers=headers) for url in urls * 3))
    assert [r.status_code for r in responses] == [200] * len(responses)


async def _kill_pooled_connections(app) -> int:
    """Terminate every other client backend of the database, as a restart
    would, and wait until they are gone; return how many there were."""
    others = (
        "FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    async with separate_connection(app) as conn:
        killed = len((await conn.execute(text(f"SELECT pg_terminate_backend(pid) {others}"))).all())
        deadline = time.monotonic() + 10
        while await conn.scalar(text(f"SELECT count(*) {others}")):
            assert time.monotonic() < deadline, "terminated backends did not exit"
            await asyncio.sleep(0.05)
    return killed


async def test_a_dead_pooled_connection_costs_no_failed_get(app, client, api, alice):
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: its backends can be terminated under the pool")
    if app.state.settings.db_statement_cache_size == 0:
        pytest.skip("behind PgBouncer the pool's connections are not backends of their own")
    # With pre-ping the pool would hide dead connections; here the Reader must.
    assert app.state.settings.db_pool_pre_ping is False
    booking = await create_booking(client, api, alice, items=TWO_ITEMS)
    urls = [f"{api}/bookings", f"{api}/bookings/{booking['id']}"]
    # Each kind of read alone (the first statement after the kill meets a dead
    # connection), then all at once (several meet one).
    for batch in ([urls[0]], [urls[1]], urls * 3):
        await _fill_pool(client, urls, alice)
        assert app.state.engine.sync_engine.pool.checkedin() >= 2
        assert await _kill_pooled_connections(app) >= 2
        responses = await asyncio.gather(*(client.get(url, headers=alice) for url in batch))
        answers = [(r.request.url.path, r.status_code, r.text) for r in responses]
        assert [status for _path, status, _text in answers] == [200] * len(batch), answers
