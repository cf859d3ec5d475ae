"""The caller's own bookings: paginated lists and CRUD."""

from typing import Any, cast

from fastapi import APIRouter, Request, Response
from starlette.responses import StreamingResponse

from ..auth import CurrentUser
from ..db import SessionDep
from ..errors import ServiceError, documented_errors
from ..export import EXPORT_RESPONSES, ExportFormat, export_response
from ..pagination import Page, PageParamsDep, paginate
from ..ratelimit import rate_limit
from ..reads import ReaderDep
from ..resource_helpers import ResourceId, apply_changes, get_or_404, owner_values, read_as
from ..resources.bookings import (
    BOOKING_SORTS,
    END_AFTER_START,
    MY_EXPORT,
    MY_SUMMARIES,
    Booking,
    BookingCreate,
    BookingRead,
    BookingSort,
    BookingStatus,
    BookingSummary,
    BookingUpdate,
    add_items,
    ensure_venue,
    items_of,
    matching,
    new_reference,
    read_booking_or_404,
    utc_day_bounds,
)
from ..responses import RowsJSONResponse
from ..web.openapi import created_links

router = APIRouter(prefix="/bookings", tags=["bookings"])


def _read(booking: Booking, items: list[dict[str, Any]]) -> BookingRead:
    return read_as(BookingRead, booking, items=items)


@router.get("", response_model=Page[BookingSummary])
async def list_my_bookings(
    user: CurrentUser,
    reader: ReaderDep,
    page: PageParamsDep,
    status: BookingStatus | None = None,
    sort: BookingSort = BookingSort.newest_first,
) -> RowsJSONResponse:
    stmt, values = matching(MY_SUMMARIES, status=status)
    values |= owner_values(user)
    return RowsJSONResponse(await paginate(reader, stmt, page, BOOKING_SORTS[sort], values))


@router.get("/today", response_model=Page[BookingSummary])
async def list_my_bookings_today(
    user: CurrentUser,
    reader: ReaderDep,
    page: PageParamsDep,
    status: BookingStatus | None = None,
    sort: BookingSort = BookingSort.oldest_first,
) -> RowsJSONResponse:
    start, end = utc_day_bounds()
    stmt, values = matching(MY_SUMMARIES, status=status, start_from=start, start_before=end)
    values |= owner_values(user)
    return RowsJSONResponse(await paginate(reader, stmt, page, BOOKING_SORTS[sort], values))


@router.get("/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES)
@rate_limit("10/minute")  # an export streams every booking of the user
async def export_my_bookings(
    request: Request,
    user: CurrentUser,
    status: BookingStatus | None = None,
    format: ExportFormat = ExportFormat.ndjson,
) -> StreamingResponse:
    """All your bookings as one streamed file; memory stays flat in row count."""
    stmt, values = matching(MY_EXPORT, status=status)
    values |= owner_values(user)
    newest = BOOKING_SORTS[BookingSort.newest_first]
    return await export_response(request, stmt, newest, format, "bookings", values)


@router.post(
    "",
    status_code=201,
    responses={**documented_errors(409), **created_links("bookings", "booking_id")},
)
async def create_booking(
    user: CurrentUser, session: SessionDep, body: BookingCreate
) -> BookingRead:
    await ensure_venue(session, body.venue_id)
    booking = Booking(
        **body.model_dump(exclude={"items"}),
        booking_reference=new_reference(),
        user_id=user.id,
    )
    session.add(booking)
    await session.flush()
    items = await add_items(session, cast(int, booking.id), body.items)  # set by the flush
    await session.commit()
    return _read(booking, items)


@router.get("/{booking_id:int}", response_model=BookingRead)
async def read_booking(
    booking_id: ResourceId, user: CurrentUser, reader: ReaderDep
) -> RowsJSONResponse:
    return RowsJSONResponse(await read_booking_or_404(reader, booking_id, user))


@router.patch("/{booking_id:int}", responses=documented_errors(409))
async def update_booking(
    booking_id: ResourceId, body: BookingUpdate, user: CurrentUser, session: SessionDep
) -> BookingRead:
    booking = await get_or_404(session, Booking, booking_id, owner=user)
    changes = body.model_dump(exclude_unset=True)
    if "venue_id" in changes:
        await ensure_venue(session, changes["venue_id"])
    apply_changes(booking, changes)
    if booking.end_datetime <= booking.start_datetime:
        raise ServiceError(422, END_AFTER_START)
    await session.commit()
    items = await items_of(session, booking_id)
    return _read(booking, [item.model_dump() for item in items])


@router.delete("/{booking_id:int}", status_code=204)
async def delete_booking(
    booking_id: ResourceId, user: CurrentUser, session: SessionDep
) -> Response:
    booking = await get_or_404(session, Booking, booking_id, owner=user)
    await session.delete(booking)
    await session.commit()
    return Response(status_code=204)
