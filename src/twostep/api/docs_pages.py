"""Swagger UI (`/docs`) and ReDoc (`/redoc`) from assets twostep serves itself, under a strict CSP.

FastAPI's pages load unpinned scripts from a CDN: on the UI's origin with no integrity check, blank
offline. The assets here come from the pinned `fastapi-offline` package (its `static` folder ships
Swagger UI's and ReDoc's bundles). The pages are off in prod unless TWOSTEP_API_DOCS=true;
`/openapi.json` stays available either way (clients and tests read it).
"""

from __future__ import annotations

import functools
import secrets
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from twostep.settings import Settings

ASSETS_URL = "/docs/assets"


def assets_folder() -> Path:
    """Swagger UI and ReDoc bundles inside the installed `fastapi_offline` package."""
    return Path(str(files("fastapi_offline") / "static"))


def docs_enabled(settings: Settings) -> bool:
    return settings.api_docs if settings.api_docs is not None else settings.stage != "prod"


def _policy(nonce: str) -> str:
    # Swagger UI and ReDoc set inline styles (style attributes, styled-components); scripts are ours
    # (the bundles) plus the one inline start-up script of Swagger UI, allowed by its nonce.
    return (
        "default-src 'none'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = bytes(page.body).decode().replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(html, headers={"content-security-policy": _policy(nonce)})


def install_docs(app: FastAPI, settings: Settings) -> None:
    """Add `/docs`, `/redoc` and their assets to an app created with `docs_url=None, redoc_url=None`."""
    if not docs_enabled(settings):
        return
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{ASSETS_URL}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _with_policy(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} - Swagger UI",
                swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=favicon,
                # No validator badge: it would fetch an image from validator.swagger.io.
                swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _with_policy(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=favicon,
                with_google_fonts=False,
            )
        )

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(redoc_bundle_without_outside_urls(), media_type="text/javascript")

    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")


# ReDoc's bundle has one outside URL: the "powered by" logo. Pointed at our own favicon, the page
# makes no request anywhere else (and the CSP has nothing to block).
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def redoc_bundle_without_outside_urls() -> bytes:
    bundle = (assets_folder() / "redoc.standalone.js").read_bytes()
    return bundle.replace(REDOC_LOGO.encode(), f"{ASSETS_URL}/favicon.png".encode())
