"""The remembered-device token: an HttpOnly cookie for the web UI, a body value for API clients.

Like the refresh cookie (token_transport.py) it is `__Host-`, Secure, HttpOnly and SameSite=Strict, and
only read or set for requests that say `X-Twostep-Client: web`.
"""

from __future__ import annotations

import re

from fastapi import Request, Response

from twostep.api.token_transport import is_web_client

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


_BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device_label(request: Request) -> str:
    """A readable name for the device list ("Chrome on Linux"), from the User-Agent; never trusted."""
    agent = request.headers.get("user-agent", "")[:512]
    browser = next((name for token, name in _BROWSERS if token in agent), "")
    system = next((name for token, name in _SYSTEMS if token in agent), "")
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    return re.sub(r"[^\w ./-]", "", agent)[:40] or "Unknown device"
