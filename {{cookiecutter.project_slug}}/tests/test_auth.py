import hashlib

import pytest
from sqlalchemy import select
from sqlmodel import col

from {{ cookiecutter.project_slug }}.models import Token, User
from {{ cookiecutter.project_slug }}.users import UserExistsError, create_user

pytestmark = pytest.mark.anyio


async def test_only_a_hash_of_the_token_is_stored(app):
    token = await create_user(app.state.engine, "carol@example.org")
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    async with app.state.sessionmaker() as session:
        user = await session.scalar(select(User).where(col(User.email) == "carol@example.org"))
        assert user is not None
        stored = await session.scalar(select(Token).where(col(Token.user_id) == user.id))
    assert stored is not None and stored.expires_at is None  # the CLI's: no expiry
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash


async def test_tokens_are_unique(app):
    first = await create_user(app.state.engine, "one@example.org")
    second = await create_user(app.state.engine, "two@example.org")
    assert first != second


async def test_duplicate_and_malformed_emails_are_refused(app):
    await create_user(app.state.engine, "dup@example.org")
    with pytest.raises(UserExistsError):
        await create_user(app.state.engine, "DUP@example.org")
    with pytest.raises(ValueError, match="EMAIL"):
        await create_user(app.state.engine, "not-an-email")


@pytest.mark.parametrize(
    "header", ["Bearer", "Basic dXNlcjpwYXNz", "Bearer  ", "Token abc", "bearer wrong"]
)
async def test_malformed_authorization_headers_are_401(client, api, header):
    response = await client.get(f"{api}/users/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
