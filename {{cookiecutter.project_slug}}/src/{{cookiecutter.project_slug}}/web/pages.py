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
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

# Swagger UI's files (script, stylesheet, icon), as the fastapi-swagger
# package ships them, kept up with Swagger UI's releases.
SWAGGER_ASSETS = ("fastapi_swagger", "resources")
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
    """Swagger UI at `docs_url`, its files served by the service itself under
    `{docs_url}/assets` (the page works on a network without the internet),
    and `/` pointing to it.

    Swagger UI sets styles from script, hence 'unsafe-inline' for styles only.
    """
    assets = f"{docs_url}/assets"
    swagger_ui_html = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{app.title} - docs",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
        # No badge from Swagger's online validator: the page asks no other host.
        swagger_ui_parameters={"validatorUrl": None},
    )
    page = Page(
        bytes(swagger_ui_html.body).decode(), scripts="'self'", styles="'self' 'unsafe-inline'"
    )

    async def swagger_ui() -> HTMLResponse:
        return page.response()

    async def to_the_docs() -> RedirectResponse:
        return RedirectResponse(docs_url)

    app.add_api_route(docs_url, swagger_ui, include_in_schema=False)
    app.mount(assets, StaticFiles(packages=[SWAGGER_ASSETS]))
    app.add_api_route("/", to_the_docs, include_in_schema=False)
