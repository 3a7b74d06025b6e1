"""The web UI: static files (no template engine) served at `/`, mounted after the API routes.

The same files can be hosted on S3: `config.json` names the API base URL (empty means same origin).
Pages carry a Content-Security-Policy without inline scripts or styles; assets may be cached but are
revalidated (no build step, so their names carry no content hash).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from twostep.domain.passwords import MIN_LENGTH

WEB_DIR = Path(__file__).parent / "web"
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=300, must-revalidate"


def api_origin(config_file: Path) -> str | None:
    """The origin of `apiBaseUrl` in the UI's config file, when it points elsewhere."""
    try:
        base = str(json.loads(config_file.read_text(encoding="utf-8")).get("apiBaseUrl") or "")
    except (OSError, ValueError, AttributeError):
        return None
    parts = urlsplit(base)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def ui_config(config_file: Path, password_min_length: int) -> dict[str, object] | None:
    """The UI's config file with the API's minimum for a new password (`passwordMinLength`), which
    follows `TWOSTEP_REQUIRE_SECOND_FACTOR`; None when the file holds no JSON object (served as it is)."""
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    return {**config, "passwordMinLength": password_min_length}


def content_security_policy(extra_connect: str | None = None) -> str:
    """No inline script or style, no framing, no foreign base or form targets."""
    connect = "'self'" + (f" {extra_connect}" if extra_connect else "")
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            # the scripts build the DOM with textContent only; any HTML sink would be refused
            "require-trusted-types-for 'script'",
        )
    )


class CachedStaticFiles(StaticFiles):
    """Static assets with a short, revalidated cache (instead of the API's `no-store`)."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = ASSET_CACHE
        return response


def install_web(app: FastAPI, web_dir: Path = WEB_DIR, *, password_min_length: int = MIN_LENGTH) -> None:
    """Serve the UI; call after every API router so API routes win. `password_min_length`: what the API
    takes of a new password, told to the UI in `config.json`."""
    page_headers = {
        "content-security-policy": content_security_policy(api_origin(web_dir / "config.json")),
        "cache-control": PAGE_CACHE,
        "cross-origin-opener-policy": "same-origin",
    }

    async def index() -> FileResponse:
        return FileResponse(web_dir / "index.html", media_type="text/html", headers=page_headers)

    async def config() -> Response:
        served = ui_config(web_dir / "config.json", password_min_length)
        if served is not None:
            return JSONResponse(served, headers={"cache-control": PAGE_CACHE})
        return FileResponse(
            web_dir / "config.json", media_type="application/json", headers={"cache-control": PAGE_CACHE}
        )

    for path in ("/", "/index.html"):
        app.add_api_route(path, index, methods=["GET"], include_in_schema=False, response_class=FileResponse)
    app.add_api_route("/config.json", config, methods=["GET"], include_in_schema=False)
    app.mount("/assets", CachedStaticFiles(directory=web_dir / "assets"), name="web-assets")
