"""Warm-up before fork: what each worker would build on its first requests,
built once in the gunicorn master, so that the workers inherit it shared and
frozen instead of each building a private copy.

FastAPI builds an included router's routes (their response fields and
pydantic serializers) the first time a request is routed through it. One
request that no route can match walks every router and builds them all,
without running an endpoint, a middleware or a database query.

Why it is built this way: docs/design-notes.md, "warmup.py".
"""

import asyncio

from starlette.routing import Router
from starlette.types import Message, Scope

# Every route's and mount's pattern starts with "/": this path matches none.
NOWHERE = "\n"


def warm_up(router: Router) -> None:
    """Route one request nowhere, outside any event loop (the master's start-up)."""
    status = asyncio.run(route_nowhere(router))
    if status != 404:
        raise RuntimeError(f"the warm-up request was answered {status}, not 404")


async def route_nowhere(router: Router) -> int:
    """The status the router answers to a request for NOWHERE."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": NOWHERE,
        "raw_path": NOWHERE.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await router(scope, receive, send)
    status: int = sent[0]["status"]
    return status
