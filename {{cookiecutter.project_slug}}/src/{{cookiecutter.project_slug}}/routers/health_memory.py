"""Memory observability: /health/memory, its history, and a small dashboard.

Under /health, so the memory guard never sheds them: they are what an
operator looks at when it does. They read what the sampler already
collected; none of them measures anything itself. The data needs an
administrator's token or METRICS_TOKEN (auth.require_operator); the
dashboard page itself is a static shell that asks for one.
"""

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..auth import Operator
from ..errors import documented_errors
from ..memory.probe import MB
from ..memory.workers import worker_history
from ..web.pages import Page

router = APIRouter(prefix="/health", tags=["health"])

OPERATOR_ERRORS = documented_errors(401, 403)
_DASHBOARD_HTML = files(__package__.rpartition(".")[0]).joinpath("memory", "dashboard.html")
DASHBOARD = Page(_DASHBOARD_HTML.read_text(encoding="utf-8"))


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / MB, 1)


@router.get("/memory", dependencies=[Operator], responses=OPERATOR_ERRORS)
async def memory(request: Request) -> dict[str, Any]:
    state = request.app.state
    sample, guard = state.memory_probe.latest, state.memory_guard
    return {
        "rss_mib": _mib(sample.rss),
        "pressure_percent": round(sample.pressure, 2),
        "source": sample.source,
        "limit_mib": _mib(sample.limit),
        "system": {
            "source": sample.system.source,
            "used_mib": _mib(sample.system.used),
            "limit_mib": _mib(sample.system.limit),
        },
        "threshold_percent": guard.threshold,
        "critical_percent": guard.critical,
        "shedding": guard.shedding(),
        "shedding_seconds": round(guard.shedding_seconds(), 1),
        "shed_grace_seconds": guard.shed_grace,
        "ready": guard.ready(),
        "sampled_at": sample.at,
        "sample_interval_ms": round(state.memory_probe.interval * 1000),
        "gc": state.gc.report(),
        "counters": guard.report(),
    }


@router.get("/memory/history", dependencies=[Operator], responses=OPERATOR_ERRORS)
async def memory_history(request: Request) -> dict[str, Any]:
    """The samples of the last few minutes, oldest first: [time, RSS MiB,
    pressure %], of this worker (`samples`) and of every worker (`workers`,
    by pid, with the times of their emergency collections)."""
    state = request.app.state
    this = worker_history(state.memory_probe, state.memory_guard)
    shared = state.shared_history
    others = [w for w in shared.read_all() if w["pid"] != this["pid"]] if shared else []
    return {
        "threshold_percent": state.memory_guard.threshold,
        "critical_percent": state.memory_guard.critical,
        "pid": this["pid"],
        "samples": this["samples"],
        "workers": sorted([this, *others], key=lambda history: history["pid"]),
    }


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    """The page holds no data: it asks for a token, then reads memory/history with it."""
    return DASHBOARD.response()
