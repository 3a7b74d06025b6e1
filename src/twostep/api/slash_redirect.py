"""The redirect between a path with and without its trailing slash (`GET /sessions/` -> `/sessions`),
with a relative `Location`.

Starlette's own redirect builds an absolute `Location` from the request's `Host` header, so a request
with a forged `Host` made the service send a client to another site, an answer a cache in front of it
could keep and serve to everyone asking for that path (host-header injection). A path alone sends every
client back to the host it asked (RFC 9110 allows a relative `Location`; browsers, curl -L, httpx and
requests follow it), so nothing needs the configured public URL.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import URL
from starlette.responses import RedirectResponse
from starlette.routing import Match, Router

from twostep.api.middleware import ASGIApp, Receive, Scope, Send


class SlashRedirect:
    """The router's last resort: a 307 to the same path with the trailing slash added or dropped when a
    route serves that one, else the router's not-found answer."""

    def __init__(self, router: Router, not_found: ASGIApp) -> None:
        self.router = router
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        location = self.location(scope) if scope["type"] == "http" else None
        if location is None:
            await self.not_found(scope, receive, send)
            return
        await RedirectResponse(url=location)(scope, receive, send)

    def location(self, scope: Scope) -> str | None:
        """The relative target, or None when no route serves the path with its slash changed."""
        path: str = scope["path"]
        if path == "/":
            return None
        other = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
        if not any(route.matches(other)[0] is not Match.NONE for route in self.router.routes):
            return None
        target = URL(scope=other)  # the path as Starlette would have redirected to (root path included)
        # `//host/...` is a reference to another host when relative: never sent as a Location.
        if target.path.startswith(("//", "/\\")):
            return None
        return target.path + (f"?{target.query}" if target.query else "")


def install_slash_redirect(app: FastAPI) -> None:
    """Starlette's Host-built redirect off; the relative one in its place."""
    router = app.router
    router.redirect_slashes = False
    router.default = SlashRedirect(router, router.default)
