"""Checks that answer before a request's body is read.

FastAPI reads and parses a route's body before it solves the route's
dependencies, so a request refused anyway (no token, a route turned off)
would pay for its body first. Dependencies marked `before_body` decide from
the request alone; `admitted_first` (bodylimit.py wraps every body's
`receive` with it) runs the matched route's ones when the body is first asked
for, and FastAPI's own pass then finds them answered.

Why it is built this way: docs/design-notes.md, "before_body.py".
"""

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope

from ..errors import ServiceError

Check = TypeVar("Check", bound=Callable[[Request], Awaitable[Any]])
_EARLY: set[Any] = set()
_CHECKS = "_checks_before_body"  # where a route keeps its early checks


def before_body(check: Check) -> Check:
    """Mark a dependency `check(request)` to run before the body is read. It
    must decide from the request alone and cost nothing when run twice in a
    request (the signed-in user is resolved once per request: auth.py)."""
    _EARLY.add(check)
    return check


class Refused(HTTPException):
    """A check's refusal, raised where the body is read. An HTTPException:
    FastAPI passes those on from its body reading, as it does not others."""

    def __init__(self, error: ServiceError) -> None:
        # The body stays unread: close, rather than read it as the next request.
        super().__init__(error.status_code, error.message, {**(error.headers or {}), **CLOSE})
        self.code = error.code


CLOSE = {"Connection": "close"}


def admitted_first(scope: Scope, receive: Receive) -> Receive:
    """`receive`, running the matched route's early checks before its first
    message. Routing has filled in `scope["route"]` by then."""
    admitted = False

    async def receive_when_admitted() -> Message:
        nonlocal admitted
        if not admitted:
            admitted = True
            route = scope.get("route")
            if isinstance(route, APIRoute):
                request = Request(scope, receive)
                try:
                    for check in _early_checks(route):
                        await check(request)
                except ServiceError as error:
                    raise Refused(error) from None
        return await receive()

    return receive_when_admitted


def _early_checks(route: APIRoute) -> list[Callable[[Request], Awaitable[Any]]]:
    """The route's early checks, found once and kept on the route."""
    checks: list[Callable[[Request], Awaitable[Any]]] | None = getattr(route, _CHECKS, None)
    if checks is None:
        checks = [call for call in _calls(route.dependant) if call in _EARLY]
        setattr(route, _CHECKS, checks)
    return checks


def _calls(dependant: Dependant) -> Iterator[Any]:
    """Every dependency's callable, in the order FastAPI solves them."""
    for sub in dependant.dependencies:
        yield from _calls(sub)
        if sub.call is not None:
            yield sub.call
