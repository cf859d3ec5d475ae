"""Liveness and readiness probes.

/health never touches the database, so a slow database does not get a
healthy process restarted; /health/ready tells a load balancer whether this
instance can serve traffic now.
"""

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..errors import documented_errors, error_response
from ..process.schema import SchemaBehindError, schema_checked

router = APIRouter(prefix="/health", tags=["health"])
logger = logging.getLogger(__name__)


@router.get("", operation_id="health_live")
async def liveness() -> dict[str, str]:
    return {"status": "ok"}


# response_model=None: the errors are responses of their own (what the annotation would infer).
@router.get(
    "/ready", operation_id="health_ready", response_model=None, responses=documented_errors(503)
)
async def readiness(request: Request) -> JSONResponse | dict[str, str]:
    state = request.app.state
    if not state.memory_guard.ready():
        # Above the critical threshold, or shedding for longer than its grace
        # time: let the load balancer drain this instance (memory/guard.py).
        return error_response(
            503, "Memory pressure: this instance cannot serve", headers={"Retry-After": "5"}
        )
    try:
        async with asyncio.timeout(state.settings.db_pool_timeout):
            await state.reader.ping()  # retried once on a connection that died in the pool
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        logger.warning("readiness check failed: %s", type(exc).__name__)
        return error_response(503, "Database unreachable", headers={"Retry-After": "5"})
    if not state.schema_checked:  # out of reach when this worker started
        try:
            state.schema_checked = await schema_checked(state.engine)
        except SchemaBehindError as exc:
            return error_response(
                503, f"Database not migrated: {exc}", "database_not_migrated", {"Retry-After": "5"}
            )
    return {"status": "ready", "database": "ok"}
