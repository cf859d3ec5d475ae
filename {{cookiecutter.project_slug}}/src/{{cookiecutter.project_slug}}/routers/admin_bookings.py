"""Every user's bookings, for administrators."""

from fastapi import APIRouter
from pydantic import AwareDatetime

from ..auth import AdminUser
from ..bookings import summary_select
from ..db import SessionDep
from ..models import Booking, BookingStatus, BookingSummary
from ..pagination import Page, PageParamsDep, offset_page

router = APIRouter(prefix="/admin/bookings", tags=["admin"])


@router.get("")
async def list_all_bookings(
    _admin: AdminUser,
    session: SessionDep,
    page: PageParamsDep,
    status: BookingStatus | None = None,
    user_id: int | None = None,
    venue_id: int | None = None,
    start_from: AwareDatetime | None = None,
    start_before: AwareDatetime | None = None,
) -> Page[BookingSummary]:
    stmt = summary_select(status, user_id=user_id, venue_id=venue_id)
    if start_from is not None:
        stmt = stmt.where(Booking.start_datetime >= start_from)
    if start_before is not None:
        stmt = stmt.where(Booking.start_datetime < start_before)
    return await offset_page(session, stmt, page)
