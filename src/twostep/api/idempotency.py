"""`Idempotency-Key` on a route: mark the endpoint with `@idempotent(scope, caller)` and give its router
`route_class=IdempotentRoute`. The route class claims the key before the endpoint (and its dependencies)
run, keeps the answer the endpoint gave, and replays it to repeats; the endpoint itself stays unaware.

Keys are scoped by the route's `scope` and a `caller` (the login's email, the challenge id in the path, the
verification tenant), so two callers' keys never collide. The body is parsed once here, through
`Request.json`, whose cached result FastAPI then validates the endpoint's body model from. Routes without the marker, and requests without
the header, run exactly as before (the wrapper is not even installed on unmarked routes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import anyio
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.errors import error_response, status_for
from twostep.api.responses import errors
from twostep.container import Container
from twostep.domain.errors import DependencyUnavailable, TwoStepError
from twostep.domain.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    InvalidIdempotencyKey,
    parse_idempotency_key,
)
from twostep.services.idempotency import Claim, IdempotencyService, IdempotentAnswer, replayable

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"  # Stripe's name: says the answer is the first request's
# Headers that belong to the answer itself (never per-request ones like X-Request-Id, nor Set-Cookie).
KEPT_HEADERS = frozenset({"content-type", "content-language", "location", "www-authenticate"})
# An answer carrying any of these is never stored (a bearer credential must not outlive its response).
CREDENTIAL_FIELDS = ("accessToken", "refreshToken", "deviceToken")
_MARKER = "__twostep_idempotent__"
NOT_JSON: Any = object()  # what a caller gets for a body that is not JSON

# Stands for a secret body field (a password) in the request's fingerprint: the secret itself is never
# fingerprinted, not even by a keyed HMAC (a fast hash of a password is a guessing target).
SECRET_MARKER = "<secret: not fingerprinted>"

# (request, container, the parsed JSON body or NOT_JSON) -> who is asking, or None
Caller = Callable[[Request, Container, Any], str | None]
# (request, container, the parsed JSON body) -> whether a stored answer may be replayed to this request
# (False: run it as a request without the key); raises the route's refusal (a wrong password's 401)
ReplayGuard = Callable[[Request, Container, Any], bool]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Idempotent:
    scope: str
    caller: Caller  # who is asking, for the key's scope; None: no idempotency (the route refuses anyway)
    # A body field left out of the fingerprint (see SECRET_MARKER). Such a route keeps successes only,
    # and replays one only when `guard` confirms the secret by other means (a password: its own slow hash).
    secret: str | None = None
    guard: ReplayGuard | None = None


def by_path(request: Request, _: Container, __: Any) -> str:
    """The path's parameters (a challenge id): keys of different challenges never meet."""
    return "&".join(f"{name}={value}" for name, value in sorted(request.path_params.items()))


def by_login_email(_: Request, __: Container, parsed: Any) -> str:
    """The sign-in's email (the body's fingerprint then binds the password too): accounts never meet."""
    email = parsed.get("email") if isinstance(parsed, dict) else None
    return f"email={email.strip().lower()}" if isinstance(email, str) else ""


def idempotent(
    scope: str, caller: Caller = by_path, *, secret: str | None = None, guard: ReplayGuard | None = None
) -> Callable[[F], F]:
    """Mark an endpoint as honouring `Idempotency-Key` (its router needs `route_class=IdempotentRoute`)."""
    if (secret is None) != (guard is None):
        raise ValueError("a secret field needs a replay guard, and a guard a secret field")

    def mark(endpoint: F) -> F:
        setattr(endpoint, _MARKER, Idempotent(scope, caller, secret, guard))
        return endpoint

    return mark


async def parsed_body(request: Request) -> Any:
    """The JSON body (parsed once: `Request.json` keeps it for FastAPI's validation), or NOT_JSON."""
    try:
        return await request.json()
    except (ValueError, RecursionError):
        return NOT_JSON


def canonical_request(request: Request, body: bytes, parsed: Any, secret: str | None = None) -> bytes:
    """Method, path and body, a JSON body re-serialised (key order and spacing do not matter), its
    `secret` field (if any) replaced by SECRET_MARKER."""
    if parsed is not NOT_JSON:
        if secret is not None and isinstance(parsed, dict) and secret in parsed:
            parsed = parsed | {secret: SECRET_MARKER}
        body = json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    return b"\n".join((request.method.encode(), request.url.path.encode(), body))


def _holds_credentials(response: Response, text: str) -> bool:
    if "set-cookie" in response.headers:
        return True
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    return isinstance(parsed, dict) and any(parsed.get(field) for field in CREDENTIAL_FIELDS)


def keepable(response: Response) -> IdempotentAnswer | None:
    """The answer as stored for replays; None when it must not be stored (tokens, cookies, a stream)."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes):
        return None
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    if _holds_credentials(response, text):
        return None
    headers = tuple((name, value) for name, value in response.headers.items() if name in KEPT_HEADERS)
    return IdempotentAnswer(status=response.status_code, headers=headers, body=text)


def is_final(error: TwoStepError, response: Response) -> bool:
    """Whether a retry of the refused request would be refused the same way, so its answer may be kept.

    Judged by the refusal's own status, not the rendered one: Flowroute's compatibility mode answers a
    limit (429) with 400 too. And a refusal that says when to retry (`Retry-After`: a prefix block of the
    fraud guard, 403) is not final either: kept, it would refuse every retry for the key's lifetime.
    """
    return replayable(status_for(error)) and "retry-after" not in response.headers


def replay(answer: IdempotentAnswer) -> Response:
    headers = dict(answer.headers) | {REPLAYED_HEADER: "true"}
    return Response(content=answer.body.encode(), status_code=answer.status, headers=headers)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Renderer = Callable[[TwoStepError], Response]


async def _run_claimed(
    marker: Idempotent,
    service: IdempotencyService,
    claim: Claim,
    handler: Handler,
    request: Request,
    render: Renderer,
) -> Response:
    """Run the endpoint holding the key; keep its answer, or let the key go."""
    final = True  # whether a retry would get the same answer (see `replayable`)
    try:
        response = await handler(request)
    except TwoStepError as error:  # rendered here as the app's handler would, so the answer can be kept
        response = render(error)
        final = is_final(error, response)
    except BaseException:
        # Nothing ran to the end (bad input, a bug, a cancelled request): a retry may run it. Shielded:
        # a client that hung up cancels this request, and an unshielded await would be cancelled too,
        # leaving the key held (every retry answered 409) until its lock lapses.
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(service.abandon, claim)
        raise
    answer = keepable(response) if final else None
    if marker.secret is not None and not 200 <= response.status_code < 300:
        # A refusal is not kept where the secret is not fingerprinted: a retry with the right password
        # must not get the wrong one's 401, and a retried wrong password is counted like any other.
        answer = None
    with anyio.CancelScope(shield=True):
        if answer is None:
            await run_in_threadpool(service.abandon, claim)
        else:
            await run_in_threadpool(service.finish, claim, answer)
    return response


async def _guarded_replay(
    marker: Idempotent,
    answer: IdempotentAnswer,
    container: Container,
    parsed: Any,
    run: Handler,
    request: Request,
) -> Response:
    """The stored answer, once the route's guard confirmed this request's secret as the first one's (counted
    and limited like the route's own check: a wrong one is refused as the route refuses it, never given
    the stored success, never a free guess)."""
    if marker.guard is not None and not await run_in_threadpool(marker.guard, request, container, parsed):
        return await run(request)
    return replay(answer)


def _wrap(marker: Idempotent, handler: Handler, render: Renderer) -> Handler:
    async def idempotent_handler(request: Request) -> Response:
        values = request.headers.getlist(HEADER)
        if not values:
            return await handler(request)
        container: Container = request.app.state.container
        try:
            key = parse_idempotency_key(values)
        except InvalidIdempotencyKey as error:
            return render(error)
        body = await request.body()
        parsed = await parsed_body(request)
        caller = marker.caller(request, container, parsed)
        if caller is None or (marker.secret is not None and not isinstance(parsed, dict)):
            return await handler(request)  # (a body that is not a JSON object is refused anyway)
        material = canonical_request(request, body, parsed, marker.secret)
        service = container.idempotency
        try:
            begun = await run_in_threadpool(service.begin, f"{marker.scope}\n{caller}", key, material)
        except (IdempotencyKeyReused, IdempotencyRequestInProgress, DependencyUnavailable) as error:
            return render(error)  # storage down: 503 and nothing done (fail closed)
        if isinstance(begun, IdempotentAnswer):
            return await _guarded_replay(marker, begun, container, parsed, handler, request)
        return await _run_claimed(marker, service, begun, handler, request, render)

    return idempotent_handler


HEADER_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "A unique key per operation (a UUID): a repeat with the same key and body gets the "
    "first answer (with `Idempotent-Replayed: true`) and nothing is sent again. The same key with another "
    "body: 422 `idempotency_key_reused`; while the first still runs: 409 "
    "`idempotency_request_in_progress`. Remembered for TWOSTEP_IDEMPOTENCY_TTL_SECONDS (default 24 h).",
}


REPLAYED_HEADER_DOC: dict[str, Any] = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the first answer to an earlier request with the same "
        "Idempotency-Key, replayed (nothing was done again).",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


class IdempotentRoute(DeferredRoute):
    """A route that honours `Idempotency-Key` when its endpoint is marked with `@idempotent`.

    Its refusals (bad key 400, key reused 422, in progress 409) are problem+json; a subclass for routes
    with another error shape overrides `render_refusal` and `refusal_responses`.
    """

    refusal_responses: ClassVar[dict[int | str, dict[str, Any]]] = errors(400, 409, 422)

    @staticmethod
    def render_refusal(error: TwoStepError) -> Response:
        return error_response(error)

    @classmethod
    def _documented(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        extra = dict(kwargs.get("openapi_extra") or {})
        extra["parameters"] = [*extra.get("parameters", []), HEADER_PARAMETER]
        responses = cls.refusal_responses | dict(kwargs.get("responses") or {})
        success = kwargs.get("status_code") or 200
        responses[success] = {"headers": REPLAYED_HEADER_DOC} | responses.get(success, {})
        return kwargs | {"openapi_extra": extra, "responses": responses}

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # Set before APIRoute.__init__, which builds the handler.
        self.idempotency: Idempotent | None = getattr(endpoint, _MARKER, None)
        if self.idempotency is not None:
            kwargs = self._documented(kwargs)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if self.idempotency is None:
            return handler
        return _wrap(self.idempotency, handler, self.render_refusal)
