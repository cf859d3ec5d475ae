"""Logging in (OAuth2's password flow, so the interactive docs can too) and out."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from ..accounts import PASSWORD_MAX, TokenResponse, log_in, log_out
from ..auth import CurrentUser
from ..reads import ReaderDep
from ..schema_types import DbStr, LoginEmail

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", operation_id="auth_login")
async def login(
    request: Request,
    reader: ReaderDep,
    username: Annotated[LoginEmail, Form(description="the account's email")],
    password: Annotated[DbStr, Form(min_length=1, max_length=PASSWORD_MAX)],
) -> TokenResponse:
    """A bearer token for the account, valid for TOKEN_TTL_HOURS."""
    return await log_in(request, reader, username, password)


@router.post("/logout", status_code=204, operation_id="auth_logout")
async def logout(request: Request, user: CurrentUser) -> Response:
    """The token presented stops working."""
    await log_out(request, user)
    return Response(status_code=204)
