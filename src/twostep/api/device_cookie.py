"""The remembered-device token: an HttpOnly cookie for the web UI, a body value for API clients.

Like the refresh cookie (token_transport.py) it is `__Host-`, Secure, HttpOnly and SameSite=Strict, and
only read or set for requests that say `X-Twostep-Client: web`.
"""

from __future__ import annotations

from fastapi import Request, Response

from twostep.api.token_transport import is_web_client
from twostep.services.client_description import client_label

DEVICE_COOKIE = "__Host-twostep-device"


def device_token(request: Request, from_body: str | None) -> str | None:
    """The body's token for API clients, the cookie for the web UI."""
    if from_body:
        return from_body
    if is_web_client(request):
        return request.cookies.get(DEVICE_COOKIE) or None
    return None


def set_device_cookie(response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        DEVICE_COOKIE, token, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
    )


def device_label(request: Request) -> str:
    """A readable name for the device list ("Chrome on Linux"), from the User-Agent; never trusted. The
    session list's parser, so one device has one name in both lists."""
    return client_label(request.headers.get("user-agent")) or "Unknown device"
