"""The idle-memory floor: the service's libraries and nothing of the service.

FastAPI with one route, an SQLAlchemy async engine on asyncpg opened in the
lifespan, served by uvicorn with uvloop and httptools: what any service on
this stack costs before its own code. The benchmark reads its RSS after the
first request, like the service's.

    python bench/import_floor.py PORT      (DATABASE_URL from the environment)
"""

import os
import sys
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(os.environ["DATABASE_URL"])
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/api/health")
async def health() -> dict:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
