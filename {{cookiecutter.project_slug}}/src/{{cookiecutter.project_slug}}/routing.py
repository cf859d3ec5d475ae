"""The router registry: every resource router, declared once.

Health is always included at start-up. Resource routers are listed here as
(prefix, module path, body limit setting or None), so adding one is a single
line. The body limit names the setting (in MB) that replaces MAX_BODY_SIZE_MB
for that router: uploads stream larger bodies to disk.

Request-body limits are FastAPI's own (`max_body_size`, Starlette's limit
middleware), set on each included router rather than on the application:
there they run inside the service's middleware, which gives their 413 the
JSON error shape (errors.BodyLimitErrorMiddleware).
"""

import importlib

from fastapi import APIRouter, FastAPI

from .settings import Settings

RESOURCE_ROUTERS: list[tuple[str, str, str | None]] = [
    ("/bookings", ".routers.bookings", None),
    ("/admin/bookings", ".routers.admin_bookings", None),
    ("/venues", ".routers.venues", None),
    ("/uploads", ".routers.uploads", "max_upload_size_mb"),
]


def load_router(module_path: str) -> APIRouter:
    return importlib.import_module(module_path, __package__).router


def include_routers(app: FastAPI, settings: Settings) -> None:
    from .routers import health

    default_limit = settings.max_body_size_mb << 20
    app.include_router(health.router, prefix=settings.api_prefix, max_body_size=default_limit)
    for _prefix, module_path, body_limit in RESOURCE_ROUTERS:
        limit = getattr(settings, body_limit) << 20 if body_limit else default_limit
        app.include_router(
            load_router(module_path), prefix=settings.api_prefix, max_body_size=limit
        )
