"""Flowroute sms-verification's error shape for the verification routes: `{"message", "reason", "attempts_left"}`.

The rest of the API answers problem+json; these routes use a route class that translates errors itself,
so the app-wide handlers stay as they are. Reasons (Flowroute sms-verification's four, plus three of twostep's own):

| status | reason | when |
|---|---|---|
| 400 | InvalidAPIUsage | bad input, including schema errors (`field` names it) |
| 400 | InvalidAPIUsage | a `channel` this service does not carry (`code` channel_not_configured) |
| 401 | InvalidAuthCode | wrong code; `attempts_left` says how many tries remain |
| 401 | InvalidApiKey | missing or wrong `X-Api-Key` |
| 404 | UnknownAuthId | no code was created for this `auth_id` |
| 410 | ExpiredAuthCode | the code expired, or was already used |
| 410 | InvalidAuthCode | no attempts left (`attempts_left` 0) |
| 403 | DestinationBlocked | the fraud guard blocked the number's prefix (`code` destination_blocked) |
| 422 | DestinationNotAllowed | a country or number type codes never go to (`code` destination_not_allowed) |
| 429 | RateLimited | a limit was hit; see `Retry-After` |
| 503 | ServiceUnavailable | SMS delivery or storage failed; nothing usable was left behind |
| 503 | SmsBudgetExhausted | the SMS money budget is spent until `Retry-After` (`code` sms_budget_exhausted) |
| 400 | InvalidAPIUsage | a bad `Idempotency-Key` (`code` invalid_idempotency_key) |
| 409 | IdempotencyRequestInProgress | the first request with this `Idempotency-Key` still runs; `Retry-After` |
| 422 | IdempotencyKeyReused | this `Idempotency-Key` was used for another request |
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.errors import retry_headers, status_for, unsupported_media_type
from twostep.api.schema_model import ApiModel
from twostep.domain import errors as e
from twostep.domain.idempotency import (
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    InvalidIdempotencyKey,
)

logger = logging.getLogger("twostep.api.verification")

NOT_JSON_BODY = "body: send the body as JSON (Content-Type: application/json)."


class FlowrouteErrorOut(ApiModel):
    message: str
    reason: str
    attempts_left: int | None
    field: str | None = None
    code: str | None = None  # twostep's stable code, for the refusals Flowroute's API never had


# Most specific first, like api/errors.STATUS_TABLE; messages follow Flowroute sms-verification's where it had one.
_REASONS: tuple[tuple[type[e.TwoStepError], int, str, str | None], ...] = (
    (e.WrongCode, 401, "InvalidAuthCode", "Invalid code."),
    (
        e.ChallengeExhausted,
        410,
        "InvalidAuthCode",
        "Too many wrong codes; a new code can be created when this one expires.",
    ),
    (e.ChallengeExpired, 410, "ExpiredAuthCode", "Expired code; create a new one."),
    (e.ChallengeGone, 410, "ExpiredAuthCode", None),
    (e.ChallengeNotFound, 404, "UnknownAuthId", "Unknown auth id."),
    (e.ApiKeyRequired, 401, "InvalidApiKey", None),
    (e.RateLimited, 429, "RateLimited", None),
    # Refusals of the fraud guard, which Flowroute sms-verification never had; `code` names them too.
    (e.DestinationNotAllowed, 422, "DestinationNotAllowed", None),
    (e.DestinationBlocked, 403, "DestinationBlocked", None),
    (e.MessageNotAllowed, 400, "InvalidAPIUsage", None),
    (e.SmsBudgetExhausted, 503, "SmsBudgetExhausted", None),
    (e.DependencyUnavailable, 503, "ServiceUnavailable", None),
    # Idempotency-Key refusals (a bad key is InvalidAPIUsage); `code` names them too.
    (IdempotencyKeyReused, 422, "IdempotencyKeyReused", None),
    (IdempotencyRequestInProgress, 409, "IdempotencyRequestInProgress", None),
)
# Errors whose body carries `code` (the others keep Flowroute's exact shape).
_WITH_CODE = (
    e.DestinationNotAllowed,
    e.DestinationBlocked,
    e.MessageNotAllowed,
    e.SmsBudgetExhausted,
    e.ChannelNotConfigured,
    InvalidIdempotencyKey,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
)


def describe_error(error: e.TwoStepError) -> tuple[int, str, str]:
    """Status, reason and message for an error."""
    for cls, status, reason, message in _REASONS:
        if isinstance(error, cls):
            return status, reason, message or error.message
    status = status_for(error)
    return status, ("InvalidAPIUsage" if status < 500 else "ServiceUnavailable"), error.message


def _attempts_left(error: e.TwoStepError) -> int | None:
    """Tries left on the code: a number when the answer is about a code, else null."""
    if isinstance(error, e.WrongCode):
        return error.attempts_remaining
    if isinstance(error, e.ChallengeGone | e.ChallengeNotFound):
        return 0
    return None


def flowroute_error(error: e.TwoStepError) -> JSONResponse:
    status, reason, message = describe_error(error)
    headers = retry_headers(error)
    field = error.field if isinstance(error, e.InvalidInput) else None
    if field and field not in message:
        message = f"{field}: {message}"
    body = FlowrouteErrorOut(
        message=message,
        reason=reason,
        attempts_left=_attempts_left(error),
        field=field,
        code=error.code if isinstance(error, _WITH_CODE) else None,
    )
    # `attempts_left` is always present (null when the answer is not about a code); `field` only for 400s.
    content = body.model_dump(exclude={name for name in ("field", "code") if getattr(body, name) is None})
    return JSONResponse(content, status_code=status, headers=headers)


def first_issue(error: RequestValidationError) -> tuple[str, str]:
    """The top-level field of the first schema error, and what is wrong with it. (A union type adds its
    member's name to `loc`, which callers don't need.)"""
    issues = error.errors()
    first = issues[0] if issues else {}
    if first.get("type") == "json_invalid":  # loc is ("body", <character offset>)
        return "body", "the body is not valid JSON"
    parts = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "header")]
    return (parts[0] if parts else "body"), str(first.get("msg", "invalid"))


def flowroute_validation_error(error: RequestValidationError, request: Request) -> JSONResponse:
    """Schema errors become 400 InvalidAPIUsage naming the first offending field. A body sent as something
    other than JSON (a form, as Twilio Verify takes, or curl's `-d` alone) says so: pydantic's words for it
    (`Input should be a valid dictionary…`) do not tell the caller what to send."""
    if unsupported_media_type(request, error):
        return flowroute_error(e.InvalidInput(NOT_JSON_BODY, field="body"))
    field, problem = first_issue(error)
    return flowroute_error(e.InvalidInput(f"{field}: {problem}", field=field))


class FlowrouteErrorRoute(DeferredRoute):
    """A route whose errors (domain and schema) answer in Flowroute sms-verification's shape instead of problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translating_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except e.TwoStepError as error:
                return flowroute_error(error)
            except RequestValidationError as error:
                return flowroute_validation_error(error, request)
            except StarletteHTTPException as error:
                if error.status_code == 400 and error.__cause__ is not None:
                    # FastAPI's bare "error parsing the body" (not UTF-8, nested too deep): malformed JSON.
                    return flowroute_error(e.InvalidInput("body: the body is not valid JSON", field="body"))
                raise

        return translating_handler
