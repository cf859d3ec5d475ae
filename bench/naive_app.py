"""The naive baseline: the generated service with its memory work undone,
modelling the "before" of the guide it was built from.

    python bench/naive_app.py SLUG PORT      (settings from the environment)

The same app on the same database, with:
- every router imported at start-up (LAZY_ROUTERS=false) and no heap
  settling after it (no collect, trim or freeze);
- GET /api/naive/bookings: every booking, whole ORM rows, no pagination;
- GET /api/naive/export: every booking loaded, then one JSON document.
"""

import importlib
import json
import sys

import uvicorn
from fastapi.responses import Response
from sqlalchemy import select


def naive_app(slug: str):
    app_module = importlib.import_module(f"{slug}.app")
    app_module.settle_heap = lambda: None
    settings = importlib.import_module(f"{slug}.settings").get_settings()
    app = app_module.create_app(settings.model_copy(update={"lazy_routers": False}))
    auth = importlib.import_module(f"{slug}.auth")
    db = importlib.import_module(f"{slug}.db")
    booking = importlib.import_module(f"{slug}.resources.bookings").Booking

    async def all_bookings(_admin: auth.AdminUser, session: db.SessionDep) -> list[booking]:
        return list(await session.scalars(select(booking)))

    async def buffered_export(_admin: auth.AdminUser, session: db.SessionDep) -> Response:
        rows = [row.model_dump(mode="json") for row in await session.scalars(select(booking))]
        return Response(json.dumps({"items": rows}), media_type="application/json")

    app.add_api_route(f"{settings.api_prefix}/naive/bookings", all_bookings)
    app.add_api_route(f"{settings.api_prefix}/naive/export", buffered_export)
    return app


if __name__ == "__main__":
    uvicorn.run(
        naive_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning"
    )
