"""The one pure-ASGI middleware every request passes (but a CORS preflight, answered by `api.cors` outside
it): request id, body limit, RateLimit fields, security headers and the request observers (the
Prometheus request metrics), in a single layer.

They used to be four layers (request id, body limit, rate-limit report, metrics), each with its own
`send` wrapper and call frame on every request; one layer does the same work with one of each.
What each part does, in the order a request meets it:

- Request id: a sane incoming `X-Request-Id` is kept, else one is made; it is echoed on the answer and
  put in every log line (`logs.request_id_var`) while the request runs.
- Body limit: a body over `max_bytes` is answered 413 problem+json, by `Content-Length` before anything
  reads it, or while it streams in (then only if no answer has started).
- RateLimit fields: the limits the request passed, on a successful answer (`ratelimit_headers`).
- Security headers on every answer (unless the route set its own value).
- HEAD: served as the GET without its body, wherever GET is served.
- A bug: logged ("unexpected error", with the request id) and answered 500 problem+json here, with the
  request id and the headers above (Starlette's last-resort handler, outside this layer, had neither).
- Observers: told method, route template (never the raw path), status and seconds once the request is
  done; the status is 500 when the app failed before answering. A route that is not one of the API's
  (`/openapi.json`, a mounted folder of assets) is told by its path template too (`route_labels`); only
  a path that matched nothing is "unmatched".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute, Mount, Route

from twostep.api.middleware import (
    MAX_BODY_BYTES,
    SAFE_REQUEST_ID,
    SECURITY_HEADERS,
    SECURITY_NAMES,
    ASGIApp,
    BodyTooLarge,
    Message,
    Receive,
    Scope,
    Send,
    header,
    new_request_id,
)
from twostep.api.ratelimit_headers import report_headers
from twostep.logs import request_id_var
from twostep.services.limit_report import close_report, open_report

logger = logging.getLogger("twostep.api")

# (method, route template or "unmatched", status, seconds)
RequestObserver = Callable[[str, str, int, float], None]


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        observers: list[RequestObserver] | None = None,
        max_bytes: int = MAX_BODY_BYTES,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        # Shared with whoever installs observers after the app is built (`install_prometheus`).
        self.observers = observers if observers is not None else []
        self.max_bytes = max_bytes
        # The app's own list: routes and mounts added after this layer was made are found too.
        self._routes = routes
        self._labels: tuple[int, dict[int, str]] = (-1, {})  # (routes seen, label by id of endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        incoming = header(scope, b"x-request-id")
        request_id = incoming.decode() if SAFE_REQUEST_ID.match(incoming) else new_request_id()
        id_token = request_id_var.set(request_id)
        report, report_token = open_report()
        status = 500  # what the client gets if the app fails before answering
        answered = False
        received = 0
        max_bytes = self.max_bytes

        async def edge_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = int(message["status"]), True
                headers = list(message.get("headers", ()))
                if report.states and status < 400:
                    headers.extend(report_headers(report.states.values()))
                present = {name.lower() for name, _ in headers if name.lower() in SECURITY_NAMES}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLarge
            return message

        served, app_send = (scope, edge_send) if scope["method"] != "HEAD" else as_get(scope, edge_send)
        try:
            declared = header(scope, b"content-length")
            if declared.isdigit() and int(declared) > max_bytes:
                await self._refuse(scope, receive, edge_send)
                return
            try:
                await self.app(served, counting_receive, app_send)
            except Exception as error:
                if answered:  # too late for an answer of this layer's own
                    raise
                await self._failed(scope, receive, edge_send, error)
        finally:
            close_report(report_token)
            request_id_var.reset(id_token)
            if self.observers:
                self._observe(str(scope.get("method", "")), served, status, time.perf_counter() - started_at)

    def _observe(self, method: str, served: Scope, status: int, elapsed: float) -> None:
        route = getattr(served.get("route"), "path", None) or self._label_of(served.get("endpoint"))
        for observe in self.observers:
            observe(method, route, status, elapsed)

    def _label_of(self, endpoint: Any) -> str:
        """The path template of a matched route that is not an API route (Starlette puts only its
        endpoint in the scope), or "unmatched": a bounded set of labels whatever paths clients send."""
        if endpoint is None:
            return "unmatched"
        seen, labels = self._labels
        if seen != len(self._routes):
            self._labels = (seen, labels) = (len(self._routes), route_labels(self._routes))
        return labels.get(id(endpoint), "unmatched")

    async def _failed(self, scope: Scope, receive: Receive, send: Send, error: Exception) -> None:
        """A body over the limit: 413. A bug: its 500, logged and answered here while the request id is
        set, so the traceback's log line and the answer both carry it (Starlette's last-resort handler
        runs outside this layer), then raised again for the server to log (and a test client to raise)."""
        if isinstance(error, BodyTooLarge):
            await self._refuse(scope, receive, send)
            return
        from twostep.api.errors import internal_error  # here: api.errors imports this module's neighbours

        logger.error("unexpected error", exc_info=error)
        await internal_error()(scope, receive, send)
        raise error

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from twostep.api.errors import problem  # here: api.errors imports this module's neighbours

        detail = f"The body is larger than {self.max_bytes} bytes."
        await problem(413, "body_too_large", detail)(scope, receive, send)


def as_get(scope: Scope, send: Send) -> tuple[Scope, Send]:
    """A HEAD request served as its GET without the body (RFC 9110: HEAD wherever GET is). The app gets
    a copy of the scope: the server reads the original's method to send no body, and so does `send`."""

    async def bodiless(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            message = {**message, "body": b""}
        await send(message)

    return {**scope, "method": "GET"}, bodiless


def route_labels(routes: Sequence[BaseRoute]) -> dict[int, str]:
    """The metrics label of each route by the id of the endpoint routing puts in the scope: a route's
    path (`/openapi.json`), a mount's path with `{path}` for what lies under it."""
    labels: dict[int, str] = {}
    for route in routes:
        if isinstance(route, Mount):
            labels[id(route.app)] = f"{route.path}/{{path}}"
        elif isinstance(route, Route):
            labels[id(route.endpoint)] = route.path
    return labels


def install_request_middleware(app: FastAPI) -> None:
    """The middleware on `app`; observers added to `app.state.request_observers` later are told too."""
    observers: list[RequestObserver] = []
    app.state.request_observers = observers
    app.add_middleware(RequestMiddleware, observers=observers, routes=app.router.routes)
