"""The router registry: every resource router, declared once.

Health is always included at start-up. Resource routers are listed here as
(prefix, module path) so that adding one is a single line.
"""

import importlib

from fastapi import APIRouter, FastAPI

# (URL prefix under API_PREFIX, module that defines `router`)
RESOURCE_ROUTERS: list[tuple[str, str]] = [
    ("/bookings", ".routers.bookings"),
    ("/admin/bookings", ".routers.admin_bookings"),
    ("/venues", ".routers.venues"),
]


def load_router(module_path: str) -> APIRouter:
    return importlib.import_module(module_path, __package__).router


def include_routers(app: FastAPI, api_prefix: str) -> None:
    from .routers import health

    app.include_router(health.router, prefix=api_prefix)
    for _prefix, module_path in RESOURCE_ROUTERS:
        app.include_router(load_router(module_path), prefix=api_prefix)
