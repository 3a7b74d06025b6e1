"""A shorter way through FastAPI for the sign-in routes' ordinary requests (`/login`, `/otp/{id}/verify`).

FastAPI runs the same generic machinery for every request: two exit stacks and an exception wrapper per
route, telemetry hooks, the dependency solver (which builds a sub-response, parses the query string,
walks the declared parameters), then validation and serialisation. For an endpoint that declares only
path parameters, one JSON body, `Request` and `Response` this is most of the HTTP layer's Python work
(measured in-process: a full FastAPI route with a body and a response model 75-80 µs a request, a
plain Starlette route 26 µs), and on a core shared with the Argon2 hash every line of it runs with cold
caches.

A route whose endpoint is marked `@lean` answers a request with a JSON body itself: it validates the
path parameters and the body with the route's own FastAPI fields, calls the endpoint, and serialises its
answer with FastAPI's own `serialize_response` and the route's response field, so valid requests get the
same answer byte for byte. Anything else (another content type, an `Idempotency-Key`, a body that is not
JSON or does not validate, a path parameter that does not) goes the full FastAPI way, with the body
read here handed on, so every error answer is FastAPI's and the app's handlers' exactly as before.
Errors the endpoint raises reach the app's exception handlers as from any route.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import serialize_response
from fastapi.utils import is_body_allowed_for_status_code
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twostep.api.idempotency import HEADER, IdempotentRoute
from twostep.api.middleware import header

F = TypeVar("F", bound=Callable[..., Any])
_MARKER = "__twostep_lean__"
IDEMPOTENCY_HEADER = HEADER.encode()


def lean(endpoint: F) -> F:
    """Mark an endpoint for the short way (its router needs `route_class=LeanRoute`)."""
    setattr(endpoint, _MARKER, True)
    return endpoint


def is_plain_json(scope: Scope) -> bool:
    """`Content-Type: application/json` (with parameters or not); other JSON types take the full way."""
    media = header(scope, b"content-type").split(b";", 1)[0].strip().lower()
    return media == b"application/json"


def has_header(scope: Scope, name: bytes) -> bool:
    """Whether the request has the header at all (an empty one is still a value to refuse)."""
    return any(key == name for key, _ in scope.get("headers", ()))


def replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` that gives the already read `body` first (for the full way after the short one read it)."""
    given = False

    async def again() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


class LeanRoute(IdempotentRoute):
    """An `IdempotentRoute` whose `@lean` endpoints answer ordinary requests the short way."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if getattr(endpoint, _MARKER, False):
            self._check_lean_shape()
            self.app = self._lean_app(self.app)

    def _check_lean_shape(self) -> None:
        """Only path parameters, one body, `Request` and `Response`: what the short way fills in."""
        d = self.dependant
        extra = d.dependencies or d.query_params or d.header_params or d.cookie_params
        if extra or len(d.body_params) != 1 or self.body_field is None or self.response_field is None:
            raise TypeError(
                f"{self.path}: a @lean endpoint takes path parameters, one body, Request, Response"
            )
        if (
            d.background_tasks_param_name
            or d.security_scopes_param_name
            or d.websocket_param_name
            or not inspect.iscoroutinefunction(d.call)
            or not isinstance(self.response_class, DefaultPlaceholder)  # FastAPI's JSON fast path
        ):
            raise TypeError(
                f"{self.path}: a @lean endpoint takes path parameters, one body, Request, Response"
            )

    def _lean_app(self, full: ASGIApp) -> ASGIApp:
        route = self
        keyed = self.idempotency is not None

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if (keyed and has_header(scope, IDEMPOTENCY_HEADER)) or not is_plain_json(scope):
                await full(scope, receive, send)
                return
            request = Request(scope, receive, send)
            body = await request.body()
            sub = Response()  # what the endpoint sets headers, cookies or a status on (as FastAPI gives it)
            del sub.headers["content-length"]
            sub.status_code = None  # type: ignore[assignment]
            values = route._values(request, body, sub)
            if values is None:  # FastAPI's own answer: the error, exactly as it words it
                await full(scope, replaying(body, receive), send)
                return
            response = await route._answer(values, sub)
            await response(scope, receive, send)

        return app

    def _values(self, request: Request, body: bytes, sub: Response) -> dict[str, Any] | None:
        """The endpoint's arguments, or None when the path or the body needs FastAPI's error answer."""
        d = self.dependant
        values: dict[str, Any] = {}
        for field in d.path_params:
            value, errors = field.validate(
                request.path_params.get(field.alias), values, loc=("path", field.alias)
            )
            if errors:
                return None
            values[field.name] = value
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return None
        assert self.body_field is not None  # checked when the route was made
        value, errors = self.body_field.validate(parsed, values, loc=("body",))
        if errors:
            return None
        values[self.body_field.name] = value
        if d.request_param_name:
            values[d.request_param_name] = request
        if d.response_param_name:
            values[d.response_param_name] = sub
        return values

    async def _answer(self, values: dict[str, Any], sub: Response) -> Response:
        """Call the endpoint and serialise its answer as FastAPI's handler does."""
        assert self.dependant.call is not None
        raw = await self.dependant.call(**values)
        if isinstance(raw, Response):
            return raw
        content = await serialize_response(
            field=self.response_field,
            response_content=raw,
            include=self.response_model_include,
            exclude=self.response_model_exclude,
            by_alias=self.response_model_by_alias,
            exclude_unset=self.response_model_exclude_unset,
            exclude_defaults=self.response_model_exclude_defaults,
            exclude_none=self.response_model_exclude_none,
            is_coroutine=True,
            dump_json=True,
        )
        status = sub.status_code or self.status_code or 200
        response = Response(content=content, media_type="application/json", status_code=status)
        if not is_body_allowed_for_status_code(status):
            response.body = b""
        response.headers.raw.extend(sub.headers.raw)
        return response
