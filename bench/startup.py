"""Start-up phases: what lazy routers save, and what a lazy router's first use costs.

A copy of the installed package gets 40 generated routers of 10 pydantic
models each, registered in RESOURCE_ROUTERS the way a user adds one (a line
each). The copy is put first on PYTHONPATH, so the same virtual environment
serves three configurations:

- none:  the service as generated (no extra routers);
- lazy:  with the 40 routers, LAZY_ROUTERS=true (the default);
- eager: with the 40 routers, LAZY_ROUTERS=false.

Idle RSS is read after the first /health. Lazy routing saves
(eager - lazy) / (eager - none) of what the routers cost.
"""

import shutil
import statistics
import subprocess
import time
from pathlib import Path

from bench.client import request
from bench.procmem import MIB, status

ROUTERS = 40
MODELS_PER_ROUTER = 10

ROUTER_TEMPLATE = '''"""Generated for the benchmark: a resource with {models} pydantic models."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from fastapi import APIRouter
from pydantic import BaseModel, Field

router = APIRouter(prefix="/gen{n:02d}", tags=["gen{n:02d}"])


class State{n:02d}(StrEnum):
    draft = "draft"
    active = "active"
    archived = "archived"

{classes}
'''

MODEL_TEMPLATE = """
class Model{n:02d}x{m:02d}(BaseModel):
    id: int
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    price: Decimal = Decimal("0")
    state: State{n:02d} = State{n:02d}.draft
    created_at: datetime
    tags: list[str] = []
    attributes: dict[str, str] = {{}}
    {parent}


@router.get("/items{m:02d}", response_model=list[Model{n:02d}x{m:02d}])
async def list_items{m:02d}(limit: int = 10, offset: int = 0) -> list:
    return []


@router.post("/items{m:02d}", response_model=Model{n:02d}x{m:02d}, status_code=201)
async def create_item{m:02d}(item: Model{n:02d}x{m:02d}) -> Model{n:02d}x{m:02d}:
    return item
"""


def router_source(n: int) -> str:
    classes = []
    for m in range(MODELS_PER_ROUTER):
        # Each model nests the previous one: schemas of realistic depth.
        parent = f"parent: Model{n:02d}x{m - 1:02d} | None = None" if m else ""
        classes.append(MODEL_TEMPLATE.format(n=n, m=m, parent=parent))
    return ROUTER_TEMPLATE.format(n=n, models=MODELS_PER_ROUTER, classes="".join(classes))


def package_with_routers(python: Path, slug: str, target: Path) -> Path:
    """Copy the installed package into `target` with the generated routers added."""
    source = subprocess.run(
        [str(python), "-c", f"import {slug}, os; print(os.path.dirname({slug}.__file__))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    package = target / slug
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, package, ignore=shutil.ignore_patterns("__pycache__"))
    lines = []
    for n in range(ROUTERS):
        (package / "routers" / f"gen{n:02d}.py").write_text(router_source(n))
        lines.append(f'    LazyRouter("/gen{n:02d}", ".routers.gen{n:02d}"),\n')
    routing = package / "routing.py"
    text = routing.read_text()
    marker = "RESOURCE_ROUTERS: list[LazyRouter] = [\n"
    assert marker in text, "routing.py no longer declares RESOURCE_ROUTERS as expected"
    routing.write_text(text.replace(marker, marker + "".join(lines), 1))
    return target


def _start_and_measure(service, env: dict, first_paths: list[str]) -> dict:
    """Start the service, read idle RSS after /health, time the first requests."""
    started = time.perf_counter()
    service.start(env=env)
    boot_s = time.perf_counter() - started
    try:
        request(service.port, "GET", "/api/health")
        time.sleep(1.0)
        idle = status(service.pid, "VmRSS") / MIB
        timings = {}
        for path in first_paths:
            samples = []
            for _ in range(21):
                began = time.perf_counter()
                code, _ = request(service.port, "GET", path)
                assert code == 200, (path, code)
                samples.append((time.perf_counter() - began) * 1000)
            timings[path] = {"first_ms": samples[0], "later_ms": statistics.median(samples[1:])}
        return {"idle_rss_mib": idle, "boot_s": boot_s, "timings": timings}
    finally:
        service.stop()


def phase_routers(service, *, runs: int) -> dict:
    generated = package_with_routers(service.python, service.slug, service.work / "routers40")
    with_routers = {"PYTHONPATH": str(generated)}
    configs = {
        "none": {},
        "lazy": {**with_routers, "LAZY_ROUTERS": "true"},
        "eager": {**with_routers, "LAZY_ROUTERS": "false"},
    }
    probe = ["/api/gen07/items03"]
    measured: dict[str, list[dict]] = {name: [] for name in configs}
    for _ in range(runs):
        for name, extra in configs.items():  # interleaved: drift hits all three alike
            paths = probe if name != "none" else []
            measured[name].append(_start_and_measure(service, extra, paths))

    def med(name: str, key: str) -> float:
        return statistics.median(run[key] for run in measured[name])

    none, lazy, eager = (med(name, "idle_rss_mib") for name in ("none", "lazy", "eager"))
    first = [run["timings"][probe[0]] for run in measured["lazy"]]
    eager_first = [run["timings"][probe[0]] for run in measured["eager"]]
    return {
        "routers": ROUTERS,
        "models_per_router": MODELS_PER_ROUTER,
        "idle_rss_mib": {"none": none, "lazy": lazy, "eager": eager},
        "idle_rss_runs": {
            name: [run["idle_rss_mib"] for run in runs_] for name, runs_ in measured.items()
        },
        "boot_s": {name: med(name, "boot_s") for name in configs},
        "routers_cost_mib": eager - none,
        "lazy_saves": (eager - lazy) / (eager - none),
        "lazy_first_request_ms": statistics.median(t["first_ms"] for t in first),
        "lazy_later_request_ms": statistics.median(t["later_ms"] for t in first),
        "eager_first_request_ms": statistics.median(t["first_ms"] for t in eager_first),
    }
