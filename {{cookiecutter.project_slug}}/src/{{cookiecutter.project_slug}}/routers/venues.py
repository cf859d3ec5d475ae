"""Venues: listed by any signed-in user, created by administrators."""

from fastapi import APIRouter
from sqlmodel import select

from ..auth import AdminUser, CurrentUser
from ..db import SessionDep
from ..models import Venue, VenueCreate, VenueRead
from ..pagination import Page, PageParamsDep, offset_page

router = APIRouter(prefix="/venues", tags=["venues"])

_VENUE_COLUMNS = [getattr(Venue, name) for name in VenueRead.model_fields]


@router.get("")
async def list_venues(
    _user: CurrentUser, session: SessionDep, page: PageParamsDep
) -> Page[VenueRead]:
    stmt = select(*_VENUE_COLUMNS).order_by(Venue.name, Venue.id)
    return await offset_page(session, stmt, page)


@router.post("", status_code=201)
async def create_venue(_admin: AdminUser, session: SessionDep, body: VenueCreate) -> VenueRead:
    venue = Venue(**body.model_dump())
    session.add(venue)
    await session.commit()
    return VenueRead.model_validate(venue.model_dump())
