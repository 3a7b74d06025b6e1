"""What the one request middleware (`api.request_middleware`) works with: ASGI types, the request id's
shape, the security headers and the body limit."""

from __future__ import annotations

import os
import re
import threading
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


class RequestIds:
    """New request ids: 16 bytes from the OS's random source as 32 hex digits, as `os.urandom(16).hex()`
    gives, taken from 4 KiB read at once. `os.urandom` is a system call that lets go of the GIL; on the
    event loop, under load, the loop then waits for the GIL behind a request thread on every request."""

    BATCH = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a test may serve from more than one thread
        self._left = memoryview(b"")
        if hasattr(os, "register_at_fork"):  # a forked child must not hand out its parent's ids
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._left = memoryview(b"")

    def new(self) -> str:
        with self._lock:
            if len(self._left) < 16:
                self._left = memoryview(os.urandom(self.BATCH))
            taken, self._left = self._left[:16], self._left[16:]
        return taken.hex()


new_request_id = RequestIds().new


def header(scope: Scope, name: bytes) -> bytes:
    """One request header without building a dict (this runs on every request)."""
    return next((value for key, value in scope.get("headers", ()) if key == name), b"")


def header_text(scope: Scope, name: bytes) -> str | None:
    """`request.headers.get(...)` for a lower-case `name`: the first such header, Latin-1 decoded, or
    None. Starlette's `Headers` is built per request and its `get` raises and catches a KeyError for
    each header the request lacks (most of these, on the sign-in routes)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


# Every body twostep takes is a few hundred bytes; a larger one is refused before it is read or parsed,
# so a 1 MB "password" costs neither memory nor an Argon2 hash.
MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """Raised from `receive` once a streamed body passes the limit."""
