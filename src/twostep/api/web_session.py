"""The browser's refresh-token cookie.

The web UI keeps the access token in memory only; the refresh token travels in an
`HttpOnly; Secure; SameSite=Strict` cookie that page scripts cannot read. A request opts in with the
header `X-Twostep-Client: web`: only then do the token routes set, read or clear the cookie, so API
clients keep the JSON-body contract unchanged. A custom header cannot be sent cross-site without a CORS
preflight, so requiring it for the cookie path also shuts out cross-site request forgery.
"""

from __future__ import annotations

from fastapi import Request, Response

from twostep.settings import Settings

CLIENT_HEADER = "x-twostep-client"
WEB_CLIENT = "web"
# `__Host-`: the browser refuses the cookie unless it is Secure, Path=/ and bound to this exact host.
REFRESH_COOKIE = "__Host-twostep-refresh"


def is_web_client(request: Request) -> bool:
    """Whether the caller is the web UI (and so wants the refresh token in a cookie)."""
    return request.headers.get(CLIENT_HEADER, "").strip().lower() == WEB_CLIENT


def cookie_refresh_token(request: Request) -> str | None:
    """The refresh token from the cookie, for web clients only."""
    if not is_web_client(request):
        return None
    return request.cookies.get(REFRESH_COOKIE) or None


def set_refresh_cookie(response: Response, refresh_token: str, settings: Settings) -> None:
    """Hand the refresh token to the browser where its scripts cannot read it."""
    response.set_cookie(
        REFRESH_COOKIE,
        refresh_token,
        max_age=settings.refresh_token_ttl_seconds,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_refresh_cookie(response: Response) -> None:
    """Tell the browser to drop the refresh cookie at once (Max-Age=0)."""
    response.delete_cookie(REFRESH_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
