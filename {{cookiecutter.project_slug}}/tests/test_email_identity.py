"""An email is an account's identity in one normal form (Unicode NFKC, case
folded): what reads alike is one account, on sign-up, login and the
create-user command; what cannot be stored as sent is a 422 naming the rule."""

import json

import pytest

from {{ cookiecutter.project_slug }}.users import UserExistsError, create_user

from tests.conftest import client_for
from tests.helpers import assert_error

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery staple"
COMPOSED = "\u00e9t\u00e9@example.org"  # "été", one code point per letter
# Each refused as sent, with the rule its 422 names.
REFUSED = {
    # 177 characters; 337 once case-folded (each dotted capital I is two).
    "\u0130" * 160 + "aaaaa@example.org": "at most 320 characters once normalised",
    "ann\u200b@example.org": "U+200B ZERO WIDTH SPACE",
    "ann\u202e@example.org": "U+202E RIGHT-TO-LEFT OVERRIDE",
    "ann\u00a0@example.org": "U+00A0 NO-BREAK SPACE",
    "ann\ue000@example.org": "U+E000",  # private use
    "ann@exa\ufe6bmple.org": "once normalised",  # a small "@": two once normalised
    "no-at-sign.example.org": "must look like name@example.org",
}
# Each the same account as COMPOSED.
ALIKE = [
    "e\u0301te\u0301@example.org",
    "\u00c9T\u00c9@Example.ORG",
    "\uff45\u0301t\u00e9@example.org",
]


async def test_look_alikes_are_one_account(app_with, api):
    async with app_with(allow_signup=True) as app, client_for(app) as client:
        body = {"email": COMPOSED, "password": PASSWORD}
        created = await client.post(f"{api}/users", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["email"] == COMPOSED
        for email in ALIKE:
            again = await client.post(f"{api}/users", json={**body, "email": email})
            assert_error(again, 409, "conflict")
            login = {"username": f" {email} ", "password": PASSWORD}
            token = await client.post(f"{api}/auth/token", data=login)
            assert token.status_code == 200, token.text
            with pytest.raises(UserExistsError):
                await create_user(app.state.engine, email)


@pytest.mark.parametrize(("email", "rule"), REFUSED.items())
async def test_an_email_that_breaks_a_rule_is_a_422_naming_it(app_with, api, email, rule):
    async with app_with(allow_signup=True) as app, client_for(app) as client:
        response = await client.post(f"{api}/users", json={"email": email, "password": PASSWORD})
        assert rule in json.dumps(
            assert_error(response, 422, "validation_error"), ensure_ascii=False
        )
        login = await client.post(
            f"{api}/auth/token", data={"username": email, "password": PASSWORD}
        )
        assert rule in json.dumps(assert_error(login, 422, "validation_error"), ensure_ascii=False)
        with pytest.raises(ValueError, match="EMAIL"):
            await create_user(app.state.engine, email)
