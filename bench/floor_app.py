"""The floor: one file of Starlette + asyncpg doing the service's list work.

    python bench/floor_app.py PACKAGE PORT    (DATABASE_URL from the environment)

GET /api/admin/bookings?page_size=N does what the service's admin list does
for each request (look the bearer token's hash up, check the user is an
administrator, select one page of the summary columns in the list order)
with nothing around it: no validation layer, no ORM, no middleware, a pool
of asyncpg connections and orjson. GET /api/admin/bookings/export answers the
whole table as one buffered JSON document, the simplest export there is.
Every list figure of the service is read against this one, measured in the
same run on the same database. Its queries come from the service's own model
(PACKAGE: the service's package; model_sql.py).
"""

import hashlib
import os
import sys
from contextlib import asynccontextmanager

import asyncpg
import model_sql  # bench/, next to this file
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

USER_SQL = (
    "SELECT users.id, users.is_admin FROM tokens JOIN users ON users.id = tokens.user_id "
    "WHERE tokens.token_hash = $1 AND users.is_active "
    "AND (tokens.expires_at IS NULL OR tokens.expires_at > now())"
)
PAGE_SQL = model_sql.page_sql(sys.argv[1])
EXPORT_SQL = model_sql.export_sql(sys.argv[1])
CONNECTIONS = model_sql.read_connections(sys.argv[1])  # as many as the service reads through


def json(body, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


async def admin(request: Request, connection) -> Response | None:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    user = await connection.fetchrow(USER_SQL, hashlib.sha256(token.encode()).hexdigest())
    if user is None:
        return json({"error": "unauthorized"}, 401)
    if not user["is_admin"]:
        return json({"error": "forbidden"}, 403)
    return None


async def bookings(request: Request) -> Response:
    size = min(int(request.query_params.get("page_size", 50)), 100)
    page = max(int(request.query_params.get("page", 1)), 1)
    async with request.app.state.pool.acquire() as connection:
        if denied := await admin(request, connection):
            return denied
        rows = await connection.fetch(PAGE_SQL, size, (page - 1) * size)
    return json({"items": [dict(row) for row in rows], "page": page, "page_size": size})


async def export(request: Request) -> Response:
    async with request.app.state.pool.acquire() as connection:
        if denied := await admin(request, connection):
            return denied
        rows = await connection.fetch(EXPORT_SQL)
    return json({"items": [dict(row) for row in rows]})


@asynccontextmanager
async def lifespan(app: Starlette):
    url = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    app.state.pool = await asyncpg.create_pool(url, min_size=1, max_size=CONNECTIONS)
    yield
    await app.state.pool.close()


async def health(_request: Request) -> Response:
    return json({"status": "ok"})


app = Starlette(
    routes=[
        Route("/api/health", health),
        Route("/api/admin/bookings", bookings),
        Route("/api/admin/bookings/export", export),
    ],
    lifespan=lifespan,
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
