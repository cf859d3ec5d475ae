"""Response compression: Starlette's GZipMiddleware, except on stored files.

A stored file goes out as it was uploaded. Compressed on the fly it would
lose its Content-Length (no progress, no size to check before the end),
cost CPU on every download for files mostly compressed already (PDF,
images), and its ETag would name two different bodies. Which paths those
are, the router registry says (routing.py, `uncompressed`).
"""

import re

from starlette._utils import get_route_path  # starlette.routing only imports it
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class CompressionMiddleware(GZipMiddleware):
    def __init__(
        self, app: ASGIApp, *, uncompressed: str | None, minimum_size: int, compresslevel: int
    ) -> None:
        super().__init__(app, minimum_size=minimum_size, compresslevel=compresslevel)
        self.uncompressed = re.compile(uncompressed) if uncompressed else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.uncompressed is not None
            and scope["type"] == "http"
            and self.uncompressed.fullmatch(get_route_path(scope))
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
