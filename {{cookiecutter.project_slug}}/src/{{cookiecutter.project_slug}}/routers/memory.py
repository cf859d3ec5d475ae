"""Memory observability: /health/memory, its history, and a small dashboard.

Under /health, so the memory guard never sheds them: they are what an
operator looks at when it does. They read what the sampler already
collected; none of them measures anything itself.
"""

from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..memory.probe import MB

router = APIRouter(prefix="/health", tags=["health"])

DASHBOARD = files(__package__.rpartition(".")[0]).joinpath("memory", "dashboard.html")


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / MB, 1)


@router.get("/memory")
async def memory(request: Request) -> dict:
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
        "ready": guard.ready(),
        "sampled_at": sample.at,
        "sample_interval_ms": round(state.memory_probe.interval * 1000),
        "gc": state.gc.report(),
        "counters": guard.report(),
    }


@router.get("/memory/history")
async def memory_history(request: Request) -> dict:
    """The samples of the last few minutes, oldest first: [time, RSS MiB, pressure %]."""
    state = request.app.state
    return {
        "threshold_percent": state.memory_guard.threshold,
        "critical_percent": state.memory_guard.critical,
        "samples": [
            [round(at, 3), _mib(rss), round(pressure, 2)]
            for at, rss, pressure in state.memory_probe.history
        ],
    }


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(DASHBOARD.read_text(encoding="utf-8"))
