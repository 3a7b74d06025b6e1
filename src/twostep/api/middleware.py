"""What the one request middleware (`api.request_middleware`) works with: ASGI types, the request id's
shape, the security headers and the body limit."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
SECURITY_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


def header(scope: Scope, name: bytes) -> bytes:
    """One request header without building a dict (this runs on every request)."""
    return next((value for key, value in scope.get("headers", ()) if key == name), b"")


# Every body twostep takes is a few hundred bytes; a larger one is refused before it is read or parsed,
# so a 1 MB "password" costs neither memory nor an Argon2 hash.
MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """Raised from `receive` once a streamed body passes the limit."""
