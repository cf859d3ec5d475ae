"""HEAD answered as its GET would be, without the body (RFC 9110, 9.3.2).

Routed as GET in a copy of the scope (the server's own still says HEAD);
the status and headers leave, the body does not. A response whose body
costs work checks `head_only` and skips it (exports, stored files).

Why it is built this way: docs/design-notes.md, "head.py".
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEAD_ONLY = "head_only"  # request scope key


def head_only(scope: Scope) -> bool:
    """Whether the request is a HEAD routed as GET: its body is never sent."""
    return bool(scope.get(_HEAD_ONLY))


class HeadMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET", _HEAD_ONLY: True}
        try:
            await self.app(as_get, receive, _without_body(send))
        finally:
            # What routing added (the route, the user) for the outer layers:
            # the access line and the metrics name the route.
            scope.update({key: value for key, value in as_get.items() if key != "method"})


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
        elif not message.get("more_body", False):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return send_head
