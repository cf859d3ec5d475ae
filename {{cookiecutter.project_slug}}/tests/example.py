"""Builders for the tests of the example resources (bookings and venues)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from {{ cookiecutter.project_slug }}.db import SessionDep
from {{ cookiecutter.project_slug }}.resources.bookings import Booking

BASE = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


def booking_body(
    title: str = "Quarterly review", hours_from_base: int = 0, **extra: Any
) -> dict[str, Any]:
    start = BASE + timedelta(hours=hours_from_base)
    return {
        "title": title,
        "start_datetime": start.isoformat(),
        "end_datetime": (start + timedelta(hours=1)).isoformat(),
        **extra,
    }


async def create_booking(client, api, headers, **kwargs) -> dict[str, Any]:
    response = await client.post(f"{api}/bookings", json=booking_body(**kwargs), headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def load_every_booking(session: SessionDep) -> dict[str, Any]:
    """A route written the way the scaffolds never are: the whole table in memory."""
    bookings = (await session.scalars(select(Booking))).all()
    return {"count": len(bookings)}
