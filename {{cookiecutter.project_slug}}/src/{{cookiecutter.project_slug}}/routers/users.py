"""Users' own accounts: sign-up (when ALLOW_SIGNUP), reading and changing one's own."""

from fastapi import APIRouter, Depends, Request

from ..accounts import OwnUpdate, SignUp, UserRead, read_user, sign_up, signup_allowed, update_own
from ..auth import CurrentUser
from ..errors import documented_errors
from ..reads import ReaderDep
from ..web.openapi import ENABLED_BY

router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "",
    status_code=201,
    responses=documented_errors(409),
    dependencies=[Depends(signup_allowed)],
    openapi_extra={ENABLED_BY: "allow_signup"},  # left out of the document while off
)
async def create_user(request: Request, body: SignUp) -> UserRead:
    """Sign up; 404 unless ALLOW_SIGNUP. Log in afterwards for a token."""
    return await sign_up(request, body)


@router.get("/me", operation_id="users_read_me")
async def read_me(user: CurrentUser, reader: ReaderDep) -> UserRead:
    return await read_user(reader, user.id)


@router.patch("/me", operation_id="users_update_me")
async def update_me(
    request: Request, user: CurrentUser, reader: ReaderDep, body: OwnUpdate
) -> UserRead:
    """A new password needs current_password, and ends every other session."""
    return await update_own(request, reader, user, body)
