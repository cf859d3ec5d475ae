"""Accounts: login, logout, expiry, disabled users, password changes, sign-up,
administrators managing users, and the bound on password hashing."""

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from {{ cookiecutter.project_slug }}.accounts import TOKENS
from {{ cookiecutter.project_slug }}.auth import Principal, TokenCache
from {{ cookiecutter.project_slug }}.models import utcnow
from {{ cookiecutter.project_slug }}.passwords import Passwords
from {{ cookiecutter.project_slug }}.users import (
    UserExistsError,
    create_user,
    revoke_token,
    set_password,
)

from tests.conftest import client_for
from tests.helpers import assert_error, clear_of_a_window_edge

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery staple"
RATELIMIT = "{{ cookiecutter.project_slug }}.ratelimit"


async def _account(app: Any, email: str, *, admin: bool = False) -> dict[str, str]:
    """A user with PASSWORD; returns the CLI token's headers."""
    hashed = await app.state.passwords.hash(PASSWORD)
    token = await create_user(app.state.engine, email, is_admin=admin, password_hash=hashed)
    return {"Authorization": f"Bearer {token}"}


async def _login(client: Any, api: str, email: str, password: str = PASSWORD) -> Any:
    return await client.post(f"{api}/auth/token", data={"username": email, "password": password})


def _client_from(app: Any, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def _bearer(response: Any) -> dict[str, str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_login_gives_a_token_that_expires(app, client, api):
    await _account(app, "dana@example.org")
    response = await _login(client, api, "  Dana@Example.org ")
    headers = _bearer(response)
    me = await client.get(f"{api}/users/me", headers=headers)
    assert me.status_code == 200 and me.json()["email"] == "dana@example.org"
    expires = response.json()["expires_at"]
    assert expires > (utcnow() + timedelta(hours=23)).isoformat()


async def test_an_expired_token_is_refused(app_with, api):
    async with app_with(auth_cache_seconds=0) as app, client_for(app) as client:
        await _account(app, "eve@example.org")
        headers = _bearer(await _login(client, api, "eve@example.org"))
        assert (await client.get(f"{api}/users/me", headers=headers)).status_code == 200
        async with app.state.engine.begin() as conn:
            await conn.execute(update(TOKENS).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert_error(await client.get(f"{api}/users/me", headers=headers), 401, "unauthorized")


def test_the_cache_never_keeps_a_token_past_its_expiry():
    cache = TokenCache(ttl_seconds=60, max_entries=10)
    cache.put("soon", Principal(1, False, 1, expires_at=time.time() + 60), cache.generation)
    cache.put("gone", Principal(1, False, 2, expires_at=time.time() - 1), cache.generation)
    assert cache.get("soon") and cache.get("gone") is None


async def test_unknown_email_and_wrong_password_look_the_same(app, client, api):
    await _account(app, "fay@example.org")
    wrong = await _login(client, api, "fay@example.org", "not the password")
    unknown = await _login(client, api, "nobody@example.org")
    for response in (wrong, unknown):
        assert_error(response, 401, "unauthorized")
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]


async def test_unknown_email_and_wrong_password_take_as_long(app_with, api):
    """Both verify a hash of the same cost (a dummy for the unknown email):
    compared as medians of several tries, in one run, taken in turn so that
    load from elsewhere (the other test workers) weighs on both alike."""
    async with app_with(rate_limit_enabled=False) as app, client_for(app) as client:
        await _account(app, "gus@example.org")

        async def seconds(email: str) -> float:
            started = time.perf_counter()
            assert (await _login(client, api, email, "wrong")).status_code == 401
            return time.perf_counter() - started

        tries = [
            (await seconds("gus@example.org"), await seconds("nobody@example.org"))
            for _ in range(7)
        ]
    wrong = sorted(pair[0] for pair in tries)[3]
    unknown = sorted(pair[1] for pair in tries)[3]
    assert 0.5 < unknown / wrong < 2.0, (unknown, wrong)


async def test_the_dummy_hash_is_made_at_start_not_by_the_first_unknown_email(
    app, client, api, monkeypatch
):
    # Made by that login, it doubled its time: a tell that the email is unknown.
    passwords, made = app.state.passwords, []
    real_hash = passwords.hash

    async def spy(password: str) -> Any:
        made.append(password)
        return await real_hash(password)

    monkeypatch.setattr(passwords, "hash", spy)
    assert_error(await _login(client, api, "nobody@example.org"), 401, "unauthorized")
    assert made == []


async def test_logout_stops_the_token_at_once(app, client, api):
    await _account(app, "hal@example.org")
    headers = _bearer(await _login(client, api, "hal@example.org"))
    other = _bearer(await _login(client, api, "hal@example.org"))
    assert (await client.get(f"{api}/users/me", headers=headers)).status_code == 200
    assert (await client.post(f"{api}/auth/logout", headers=headers)).status_code == 204
    assert_error(await client.get(f"{api}/users/me", headers=headers), 401, "unauthorized")
    assert (await client.get(f"{api}/users/me", headers=other)).status_code == 200


async def test_a_disabled_user_cannot_log_in_and_its_tokens_stop(app, client, api, admin):
    cli_token = await _account(app, "ivy@example.org")
    session = _bearer(await _login(client, api, "ivy@example.org"))
    me = (await client.get(f"{api}/users/me", headers=session)).json()
    changed = await client.patch(
        f"{api}/admin/users/{me['id']}", json={"is_active": False}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["is_active"] is False
    for headers in (session, cli_token):
        assert_error(await client.get(f"{api}/users/me", headers=headers), 401, "unauthorized")
    assert_error(await _login(client, api, "ivy@example.org"), 401, "unauthorized")
    await client.patch(f"{api}/admin/users/{me['id']}", json={"is_active": True}, headers=admin)
    assert (await client.get(f"{api}/users/me", headers=cli_token)).status_code == 200


async def test_a_new_password_needs_the_current_one_and_ends_other_sessions(app, client, api):
    await _account(app, "jo@example.org")
    mine = _bearer(await _login(client, api, "jo@example.org"))
    elsewhere = _bearer(await _login(client, api, "jo@example.org"))
    new = {"password": "an even longer passphrase"}
    refused = await client.patch(
        f"{api}/users/me", json={**new, "current_password": "wrong"}, headers=mine
    )
    assert_error(refused, 403, "forbidden")
    ok = await client.patch(
        f"{api}/users/me", json={**new, "current_password": PASSWORD}, headers=mine
    )
    assert ok.status_code == 200, ok.text
    assert (await client.get(f"{api}/users/me", headers=mine)).status_code == 200
    assert_error(await client.get(f"{api}/users/me", headers=elsewhere), 401, "unauthorized")
    assert_error(await _login(client, api, "jo@example.org"), 401, "unauthorized")
    _bearer(await _login(client, api, "jo@example.org", new["password"]))


async def test_a_token_alone_never_sets_a_password(app, client, api):
    """An account made without a password (create-user) gets none through
    its token: after revoke-token, a thief who held the token has no way in."""
    token = await create_user(app.state.engine, "kit@example.org")
    stolen = {"Authorization": f"Bearer {token}"}
    new = {"password": "chosen by whoever holds the token"}
    missing = await client.patch(f"{api}/users/me", json=new, headers=stolen)
    error = assert_error(missing, 422, "validation_error")
    assert "current_password" in error["message"]
    for guess in ("", "anything at all"):
        refused = await client.patch(
            f"{api}/users/me", json={**new, "current_password": guess}, headers=stolen
        )
        assert "no password" in assert_error(refused, 403, "forbidden")["message"]
    await revoke_token(app.state.engine, "kit@example.org")
    assert_error(await _login(client, api, "kit@example.org", new["password"]), 401, "unauthorized")
    # Its first password comes from an administrator (the set-password command).
    hashed = await app.state.passwords.hash(PASSWORD)
    await set_password(app.state.engine, "kit@example.org", hashed)
    _bearer(await _login(client, api, "kit@example.org"))


async def test_the_document_says_a_new_password_needs_the_current_one(client, api):
    schema = (await client.get(f"{api}/openapi.json")).json()["components"]["schemas"]
    own = schema["OwnUpdate"]
    assert own["dependentRequired"] == {"password": ["current_password"]}
    assert "current_password" in own["properties"]["password"]["description"]


async def test_sign_up_is_off_by_default(client, api):
    body = {"email": "kim@example.org", "password": PASSWORD}
    assert_error(await client.post(f"{api}/users", json=body), 404, "not_found")


async def test_sign_up_when_allowed(app_with, api):
    async with app_with(allow_signup=True) as app, client_for(app) as client:
        body = {"email": "Kim@Example.org", "password": PASSWORD}
        created = await client.post(f"{api}/users", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["email"] == "kim@example.org"
        assert created.json()["is_admin"] is False
        assert_error(await client.post(f"{api}/users", json=body), 409, "conflict")
        short = {"email": "lee@example.org", "password": "short"}
        assert_error(await client.post(f"{api}/users", json=short), 422, "validation_error")
        _bearer(await _login(client, api, "kim@example.org"))


async def test_racing_sign_ups_for_one_email_make_one_account(app_with, api):
    """The unique index decides: one 201, the others 409, never a 500."""
    async with app_with(allow_signup=True) as app, client_for(app) as client:
        body = {"email": "race@example.org", "password": PASSWORD}
        responses = await asyncio.gather(
            *(client.post(f"{api}/users", json=body) for _ in range(6))
        )
        assert sorted(r.status_code for r in responses) == [201] + [409] * 5, [
            r.text for r in responses
        ]
        for refused in (r for r in responses if r.status_code == 409):
            assert_error(refused, 409, "conflict")
        _bearer(await _login(client, api, "race@example.org"))


async def test_create_user_refuses_a_taken_email(app):
    await create_user(app.state.engine, "taken@example.org")
    with pytest.raises(UserExistsError):
        await create_user(app.state.engine, "Taken@Example.org ")


async def test_administrators_list_and_manage_users(app, client, api, admin, alice):
    listed = await client.get(f"{api}/admin/users", params={"page_size": 1}, headers=admin)
    assert listed.status_code == 200
    page = listed.json()
    assert len(page["items"]) == 1 and page["pagination"]["total"] == 2
    assert set(page["items"][0]) == {"id", "email", "is_admin", "is_active", "created_at"}
    me = (await client.get(f"{api}/users/me", headers=alice)).json()
    promoted = await client.patch(
        f"{api}/admin/users/{me['id']}", json={"is_admin": True}, headers=admin
    )
    assert promoted.json()["is_admin"] is True
    # The cache of this worker was cleared: alice is an administrator at once.
    assert (await client.get(f"{api}/admin/users", headers=alice)).status_code == 200


async def test_users_cannot_manage_users(client, api, alice):
    assert_error(await client.get(f"{api}/admin/users", headers=alice), 403, "forbidden")
    patched = await client.patch(f"{api}/admin/users/1", json={"is_admin": True}, headers=alice)
    assert_error(patched, 403, "forbidden")


async def test_administrators_cannot_lock_themselves_out(client, api, admin):
    me = (await client.get(f"{api}/users/me", headers=admin)).json()
    refused = await client.patch(
        f"{api}/admin/users/{me['id']}", json={"is_active": False}, headers=admin
    )
    assert_error(refused, 409, "conflict")


async def test_logins_are_rate_limited_per_account_and_address(app_with, api):
    async with app_with(rate_limit_enabled=True, login_rate_limit="3/minute") as app:
        await _account(app, "max@example.org")
        async with client_for(app) as client:
            await asyncio.sleep(clear_of_a_window_edge())
            for _ in range(3):
                await _login(client, api, "max@example.org", "wrong")
            limited = await _login(client, api, "max@example.org")
            assert_error(limited, 429, "rate_limited")
            assert int(limited.headers["retry-after"]) >= 1


async def test_logins_are_rate_limited_per_address(app_with, api):
    limited = app_with(rate_limit_enabled=True, login_address_rate_limit="3/minute")
    async with limited as app, client_for(app) as client:
        await asyncio.sleep(clear_of_a_window_edge())
        for number in range(3):  # three accounts, one address
            await _login(client, api, f"guess{number}@example.org")
        assert_error(await _login(client, api, "guess9@example.org"), 429, "rate_limited")


async def test_guesses_from_many_addresses_slow_the_owner_but_never_lock_it_out(
    app_with, api, caplog
):
    limits = {"login_rate_limit": "3/minute", "login_slowdown_seconds": 0.01}
    async with app_with(rate_limit_enabled=True, **limits) as app:
        await _account(app, "ona@example.org")
        await asyncio.sleep(clear_of_a_window_edge())
        for number in range(6):  # past the account's bound, each address within its own
            async with _client_from(app, f"203.0.113.{number}") as guesser:
                wrong = await _login(guesser, api, "ona@example.org", "wrong")
                assert_error(wrong, 401, "unauthorized")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=RATELIMIT):
            async with _client_from(app, "198.51.100.7") as owner:
                _bearer(await _login(owner, api, "ona@example.org"))
    (slowed,) = [r.getMessage() for r in caplog.records if r.name == RATELIMIT]
    assert "more password attempts than LOGIN_RATE_LIMIT" in slowed


async def test_guessing_the_current_password_counts_as_logging_in(app_with, api):
    async with app_with(rate_limit_enabled=True, login_rate_limit="3/minute") as app:
        stolen = await _account(app, "pia@example.org")
        body = {"password": "an even longer passphrase"}
        async with client_for(app) as client:
            await asyncio.sleep(clear_of_a_window_edge())
            await _login(client, api, "pia@example.org", "wrong")  # one budget for both
            for guess in ("guess one", "guess two"):
                refused = await client.patch(
                    f"{api}/users/me", json={**body, "current_password": guess}, headers=stolen
                )
                assert_error(refused, 403, "forbidden")
            limited = await client.patch(
                f"{api}/users/me", json={**body, "current_password": PASSWORD}, headers=stolen
            )
            assert_error(limited, 429, "rate_limited")


async def test_at_most_the_bound_of_hashes_run_at_once(settings):
    passwords = Passwords(settings.model_copy(update={"password_hash_concurrency": 2}))
    await asyncio.gather(*(passwords.hash(f"password {n}") for n in range(8)))
    assert passwords.peak == 2


async def test_past_the_wait_a_hash_is_refused_with_retry_after(settings):
    bounded = settings.model_copy(
        update={"password_hash_concurrency": 1, "password_hash_wait_seconds": 0.01}
    )
    passwords = Passwords(bounded)
    results = await asyncio.gather(
        *(passwords.hash(f"password {n}") for n in range(4)), return_exceptions=True
    )
    refused = [result for result in results if isinstance(result, Exception)]
    assert refused and all(getattr(error, "status_code", None) == 503 for error in refused)
    assert all(error.headers["Retry-After"] for error in refused)  # type: ignore[attr-defined]


async def test_the_document_offers_the_password_flow(client, api):
    schema = (await client.get(f"{api}/openapi.json")).json()
    scheme = schema["components"]["securitySchemes"]["BearerToken"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == f"{api}/auth/token"
    login = schema["paths"][f"{api}/auth/token"]["post"]
    assert "application/x-www-form-urlencoded" in login["requestBody"]["content"]


async def test_last_use_is_written_at_most_once_per_interval(app_with, api):
    async with app_with(auth_cache_seconds=0) as app, client_for(app) as client:
        await _account(app, "ned@example.org")
        headers = _bearer(await _login(client, api, "ned@example.org"))
        seen = []
        for _ in range(3):  # every request looks the token up (no cache)
            assert (await client.get(f"{api}/users/me", headers=headers)).status_code == 200
            async with app.state.engine.connect() as conn:
                rows = await conn.execute(select(TOKENS.c.last_used_at).order_by(TOKENS.c.id))
                seen.append(rows.scalars().all()[-1])
    assert seen[0] is not None and seen == [seen[0]] * 3
