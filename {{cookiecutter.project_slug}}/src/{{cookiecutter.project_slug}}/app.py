"""create_app(): settings -> lifespan (engine) -> middleware -> routers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .db import create_engine, create_sessionmaker
from .errors import install_error_handlers
from .routing import include_routers
from .settings import Settings, get_settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Created here, not at import: under a pre-forking server each worker
    # opens its own pool after fork.
    engine = create_engine(app.state.settings)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    try:
        yield
    finally:
        await engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    docs = settings.docs_enabled
    app = FastAPI(
        # The project name, JSON-escaped (with " as \u0022): a valid literal whatever it holds.
        title={{ cookiecutter.project_name | tojson | replace('\\"', '\\u0022') }},
        lifespan=lifespan,
        openapi_url=f"{settings.api_prefix}/openapi.json" if docs else None,
        docs_url=f"{settings.api_prefix}/docs" if docs else None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    include_routers(app, settings.api_prefix)
    return app
