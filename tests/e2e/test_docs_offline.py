"""`/docs` and `/redoc` work with the network off: every asset comes from twostep, under its CSP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e


def offline(tab: Any, live: LiveServer) -> list[str]:
    """Abort every request that leaves the server under test; return the URLs tried."""
    outside: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(live.base_url) or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    tab.route("**/*", route)
    return outside


def test_swagger_ui_renders_offline(page: Any, server: LiveServer) -> None:
    outside = offline(page, server)
    page.goto(f"{server.base_url}/docs")
    page.locator(".opblock-summary-path", has_text="/login").first.wait_for()
    assert "twostep" in page.title()
    assert not outside, outside


def test_redoc_renders_offline(page: Any, server: LiveServer) -> None:
    outside = offline(page, server)
    page.goto(f"{server.base_url}/redoc")
    page.get_by_role("heading", name="twostep").first.wait_for()
    page.get_by_text("/login").first.wait_for()
    assert not outside, outside


def test_doc_pages_carry_a_strict_policy(server: LiveServer) -> None:
    for path in ("/docs", "/redoc"):
        response = httpx.get(f"{server.base_url}{path}")
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self' 'nonce-" in policy
        assert "cdn" not in response.text.lower()
    asset = httpx.get(f"{server.base_url}/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    redoc = httpx.get(f"{server.base_url}/docs/assets/redoc.standalone.js")
    assert redoc.status_code == 200 and b"https://cdn." not in redoc.content
