"""Venues: listed by any signed-in user (cached), created by administrators."""

from fastapi import APIRouter, Request
from sqlmodel import select

from ..auth import AdminUser, CurrentUser
from ..db import SessionDep
from ..pagination import Page, PageParamsDep, paginate
from ..reads import ReaderDep
from ..resource_helpers import columns_of, read_as
from ..resources.venues import VENUES_BY_NAME, Venue, VenueCreate, VenueRead
from ..responses import RowsJSONResponse

router = APIRouter(prefix="/venues", tags=["venues"])

_VENUES = select(*columns_of(Venue, VenueRead))


@router.get("", response_model=Page[VenueRead])
async def list_venues(
    request: Request, _user: CurrentUser, reader: ReaderDep, page: PageParamsDep
) -> RowsJSONResponse:
    key = ("venues", page.page, page.page_size, page.cursor, page.with_total)
    return RowsJSONResponse(
        await request.app.state.cache.get_or_load(
            key, lambda: paginate(reader, _VENUES, page, VENUES_BY_NAME)
        )
    )


@router.post("", status_code=201)
async def create_venue(
    request: Request, _admin: AdminUser, session: SessionDep, body: VenueCreate
) -> VenueRead:
    venue = Venue(**body.model_dump())
    session.add(venue)
    await session.commit()
    request.app.state.invalidations.clear_cache()
    return read_as(VenueRead, venue)
