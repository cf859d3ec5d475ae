"""The stack floor: what FastAPI + SQLAlchemy Core + asyncpg + orjson can do.

    python bench/stack_floor_app.py PACKAGE PORT    (DATABASE_URL from the environment)

GET /api/admin/bookings?page_size=N&page=P answers the same page of summary
columns, in the same order, as the service's admin list, with one query and
nothing else: no authentication, no count, no middleware, no validation of
the rows. It is the ceiling the chosen stack sets; bench/floor_app.py
(Starlette + asyncpg, no SQLAlchemy) is the one below the stack.
"""

import os
import sys
from contextlib import asynccontextmanager
from typing import Annotated

import model_sql  # bench/, next to this file
import orjson
import uvicorn
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import create_async_engine

# The service's own summary columns and order, and its read connections
# (PACKAGE: its package; model_sql.py).
PAGE = model_sql.page_select(sys.argv[1])
CONNECTIONS = model_sql.read_connections(sys.argv[1])


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.engine = create_async_engine(
        os.environ["DATABASE_URL"], pool_size=CONNECTIONS, max_overflow=0, pool_use_lifo=True
    )
    yield
    await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan, openapi_url=None)


@app.get("/api/health")
async def health() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.get("/api/admin/bookings")
async def admin_bookings(
    request: Request,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    stmt = PAGE.limit(page_size).offset((page - 1) * page_size)
    async with request.app.state.engine.connect() as connection:
        result = await connection.execute(stmt)
        rows = result.all()
    keys = list(map(str, result.keys()))  # SQLAlchemy's names are str subclasses
    body = {
        "items": [dict(zip(keys, row, strict=True)) for row in rows],
        "page": page,
        "page_size": page_size,
    }
    return Response(orjson.dumps(body), media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
