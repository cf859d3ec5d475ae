"""The router registry: every resource router, declared once, imported on first use.

Health (with the memory endpoints under it) is included at start-up. Each
resource router is one line of RESOURCE_ROUTERS, imported by the first request
under its prefix with LAZY_ROUTERS=true (the default), or in create_app() with
false. The OpenAPI schema loads every router first. A line may give its prefix
a `body_limit` (bodylimit.py) and `uncompressed` paths (compression.py).

Why it is built this way: docs/design-notes.md, "routing.py".
"""

import importlib
import logging
import re
from typing import Any, NamedTuple

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from starlette._utils import get_route_path  # starlette.routing only imports it
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import documented_errors
from .ratelimit import enforce_rate_limit
from .settings import Settings
from .web.openapi import document_page_size, document_upload_types, for_tools
from .web.path_prefix import matching_prefix

logger = logging.getLogger(__name__)
# Documented on every resource route, so clients (and schema-driven tests)
# know the one error shape; each route may answer with a subset of these.
RESOURCE_ERRORS = documented_errors(400, 401, 403, 404, 413, 422, 429, 503)


class LazyRouter(NamedTuple):
    prefix: str  # under API_PREFIX
    module: str  # relative to this package; the module defines `router`
    body_limit: str | None = None  # a setting in MB replacing MAX_BODY_SIZE_MB
    uncompressed: str | None = None  # a pattern of paths under the prefix sent as they are


# What a body limit of its own allows beyond the setting: multipart framing
# (boundaries, part headers, small fields). The route enforces the setting
# exactly on the content itself, so a file of MAX_UPLOAD_SIZE_MB fits.
FRAMING_BYTES = 64 << 10

# An upload's file (GET /uploads/{upload_id}/content): sent as stored.
FILE_CONTENT = "/[^/]+/content"

RESOURCE_ROUTERS: list[LazyRouter] = [
{%- if cookiecutter.example_domain == "bookings" %}
    LazyRouter("/bookings", ".routers.bookings"),
    LazyRouter("/admin/bookings", ".routers.admin_bookings"),
    LazyRouter("/venues", ".routers.venues"),
{%- endif %}
    LazyRouter("/uploads", ".routers.uploads", "max_upload_size_mb", uncompressed=FILE_CONTENT),
    LazyRouter("/auth", ".routers.auth"),
    LazyRouter("/users", ".routers.users"),
    LazyRouter("/admin/users", ".routers.admin_users"),
]


def uncompressed_paths(api_prefix: str) -> str | None:
    """One pattern of every registered `uncompressed` path, under API_PREFIX;
    known before any router is imported."""
    patterns = [
        re.escape(api_prefix + entry.prefix) + f"(?:{entry.uncompressed})"
        for entry in RESOURCE_ROUTERS
        if entry.uncompressed
    ]
    return "|".join(patterns) or None


def import_router(module: str) -> APIRouter:
    router: APIRouter = importlib.import_module(module, __package__).router
    return router


class RouterRegistry:
    """Includes each registered router into the app exactly once."""

    def __init__(self, app: FastAPI, settings: Settings, routers: list[LazyRouter]) -> None:
        self.app = app
        self.api_prefix = settings.api_prefix
        self.pending = {self.api_prefix + entry.prefix: entry for entry in routers}
        self.body_limits = {
            self.api_prefix + entry.prefix: (getattr(settings, entry.body_limit) << 20)
            + FRAMING_BYTES
            for entry in routers
            if entry.body_limit
        }
        self.lock = anyio.Lock()
        # Health and memory routes are included elsewhere: never rate limited.
        self.dependencies = [Depends(enforce_rate_limit)] if settings.rate_limit_enabled else []

    def pending_for(self, path: str) -> str | None:
        """The pending prefix `path` falls under, if any."""
        return matching_prefix(path, self.pending)

    async def load(self, prefix: str) -> None:
        # One lock for all routers: concurrent first requests wait for the
        # first one's import instead of importing and including again. The
        # import runs in a worker thread so that a heavy router module does
        # not stall requests to the routers already loaded.
        async with self.lock:
            entry = self.pending.get(prefix)
            if entry is None:  # loaded while this request waited
                return
            router = await anyio.to_thread.run_sync(import_router, entry.module)
            self._include(prefix, router)

    def load_all(self) -> None:
        for prefix, entry in list(self.pending.items()):
            self._include(prefix, import_router(entry.module))

    def _include(self, prefix: str, router: APIRouter) -> None:
        # Runs on the event loop thread only, without awaiting: the check and
        # the include cannot interleave with another request's.
        entry = self.pending.pop(prefix, None)
        if entry is None:
            return
        if router.prefix != entry.prefix:
            # Requests are matched against the registered prefix: a router
            # declaring another one would only ever answer 404.
            raise RuntimeError(
                f"{entry.module} declares prefix {router.prefix!r} "
                f"but is registered under {entry.prefix!r} in RESOURCE_ROUTERS"
            )
        self.app.include_router(
            router,
            prefix=self.api_prefix,
            dependencies=self.dependencies,
            responses=RESOURCE_ERRORS,
        )
        logger.debug("included router %s at %s", entry.module, prefix)


def route_template(scope: Scope, api_prefix: str) -> str | None:
    """The template of the route that answered a request (/api/bookings/{booking_id}),
    for labels and span names: None before routing or when no route matched."""
    route = scope.get("route")
    # path_format: the template without convertors ({id}, not {id:int}).
    template: str | None = getattr(route, "path_format", None)
    if route is None or template is None:
        return None
    # Routes of included routers carry their path without the prefix they
    # were included under (API_PREFIX); app-level routes carry it all.
    if not route.path_regex.match(get_route_path(scope)):
        template = api_prefix + template
    return template


class LazyRouterMiddleware:
    """Pure ASGI: loads the router a request needs before routing it.

    Once every router is loaded this is one dictionary check per request.
    Paths outside every registered prefix go straight on (an unknown path is a
    404 without importing anything).
    """

    def __init__(self, app: ASGIApp, registry: RouterRegistry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.registry.pending:
            prefix = self.registry.pending_for(get_route_path(scope))
            if prefix is not None:
                await self.registry.load(prefix)
        await self.app(scope, receive, send)


def include_routers(app: FastAPI, settings: Settings) -> RouterRegistry:
    from .routers import health, health_memory

    for router in (health.router, health_memory.router):
        app.include_router(router, prefix=settings.api_prefix)
    registry = RouterRegistry(app, settings, RESOURCE_ROUTERS)
    if settings.lazy_routers:
        app.add_middleware(LazyRouterMiddleware, registry=registry)
    else:
        registry.load_all()

    schema = app.openapi
    completed: list[dict[str, Any]] = []

    def complete_schema() -> dict[str, Any]:
        registry.load_all()
        document = schema()
        # Completed in place once per document FastAPI builds (it keeps one
        # until the routes change): a walk of the document costs milliseconds.
        if not completed or completed[0] is not document:
            document_page_size(document, settings.max_page_size)
            document_upload_types(document, settings.allowed_upload_types)
            for_tools(document, api_prefix=settings.api_prefix, enabled=is_on)
            completed[:] = [document]
        return document

    def is_on(setting: str) -> bool:
        return bool(getattr(settings, setting))

    # FastAPI serves /openapi.json (and /docs reads it) from app.openapi().
    app.openapi = complete_schema  # type: ignore[method-assign]  # FastAPI's documented way
    return registry
