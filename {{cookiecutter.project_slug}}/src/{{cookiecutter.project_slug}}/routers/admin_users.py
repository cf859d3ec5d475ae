"""Every user, for administrators: list, disable, make administrator."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from ..accounts import USER_COLUMNS, USERS, AdminUpdate, UserRead, update_user
from ..auth import AdminUser
from ..errors import documented_errors
from ..pagination import Page, PageParamsDep, SortKey, paginate
from ..reads import ReaderDep
from ..responses import RowsJSONResponse
from ..schema_types import MAX_ID

router = APIRouter(prefix="/admin/users", tags=["admin"])

_BY_ID = SortKey((USERS.c.id,), descending=False)
_USERS = select(*USER_COLUMNS)


@router.get("", response_model=Page[UserRead])
async def list_users(_admin: AdminUser, reader: ReaderDep, page: PageParamsDep) -> RowsJSONResponse:
    return RowsJSONResponse(await paginate(reader, _USERS, page, _BY_ID))


@router.patch("/{user_id}", responses=documented_errors(409))
async def update_user_by_admin(
    request: Request,
    admin: AdminUser,
    reader: ReaderDep,
    user_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: AdminUpdate,
) -> UserRead:
    """Disable (is_active=false: its tokens stop working) or grant rights."""
    return await update_user(request, reader, admin, user_id, body)
