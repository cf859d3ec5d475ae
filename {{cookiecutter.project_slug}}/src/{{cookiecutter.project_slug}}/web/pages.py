"""The HTML pages the service serves (API docs, memory dashboard), each with
a Content-Security-Policy that allows exactly what the page needs.

Their inline <script> and <style> blocks are allowed by hash, computed here
from the page itself, so the policy cannot drift from the page and no
'unsafe-inline' is needed for scripts.
"""

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER_CDN = "https://cdn.jsdelivr.net"
FASTAPI_FAVICON = "https://fastapi.tiangolo.com"
NONE = "'none'"


def _inline_hashes(html: str, tag: str) -> list[str]:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for block in blocks
    ]


def page_policy(html: str, *, scripts: str = "", styles: str = "", images: str = "") -> str:
    """A policy for `html`: its own inline blocks, plus the sources given."""
    script_src = " ".join([*_inline_hashes(html, "script"), scripts]).strip() or NONE
    style_src = " ".join([*_inline_hashes(html, "style"), styles]).strip() or NONE
    return "; ".join(
        [
            f"default-src {NONE}",
            f"script-src {script_src}",
            f"style-src {style_src}",
            f"img-src 'self' data: {images}".strip(),
            "connect-src 'self'",
            f"base-uri {NONE}",
            f"form-action {NONE}",
            f"frame-ancestors {NONE}",
        ]
    )


class Page:
    """A static HTML page and its policy, computed once, answered per request."""

    def __init__(self, html: str, **sources: str) -> None:
        self.html = html
        self.headers = {"Content-Security-Policy": page_policy(html, **sources)}

    def response(self) -> HTMLResponse:
        # A new response each time: middleware may edit a response's headers.
        return HTMLResponse(self.html, headers=self.headers)


def install_docs(app: FastAPI, docs_url: str, openapi_url: str) -> None:
    """Swagger UI at `docs_url`, as FastAPI serves it, with its policy.

    Swagger UI's code and stylesheet come from its CDN; it sets styles from
    script, hence 'unsafe-inline' for styles only.
    """
    swagger_ui_html = get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} - docs")
    html = bytes(swagger_ui_html.body).decode()
    page = Page(
        html, scripts=SWAGGER_CDN, styles=f"{SWAGGER_CDN} 'unsafe-inline'", images=FASTAPI_FAVICON
    )

    async def swagger_ui() -> HTMLResponse:
        return page.response()

    app.add_api_route(docs_url, swagger_ui, include_in_schema=False)
