"""Flowroute compatibility mode (`TWOSTEP_VERIFY_COMPAT=flowroute`) of `twostep serve --app verification`.

Flowroute's sms-verification answered every refusal with HTTP 400 (its two error classes both carried
400) and these bodies, which its `SMSAuthClient` and its tests read:

| when | message | reason | attempts_left |
|---|---|---|---|
| bad create body | `Required arguments: 'auth_id' (str), 'recipient' (int, length=11)` | InvalidAPIUsage | - |
| bad check query | `Required arguments: 'auth_id' (str), 'code' (int)` | InvalidAPIUsage | - |
| wrong code | `Invalid code` | InvalidAuthCode | tries left |
| expired code | `Expired code` | ExpiredAuthCode | 0 |
| unknown id (also a used or exhausted code: it deleted those; an id no code can have, empty say) | `Unknown auth id` | UnknownAuthId | 0 |

An unknown key in the create body is ignored, as it was there. An expired code answers `Expired code` at
every check until it is replaced or purged (Flowroute's deleted it at the first, so a second check got `Unknown auth
id`): a check counts an attempt in one conditional write and never deletes, and the answer stays true.

Refusals it never had (API keys, limits, fraud guard) answer 400 too, with twostep's reason and message,
and keep `Retry-After` and the RateLimit fields. Failures of a dependency stay 5xx (it answered 500).
A created code answers `{"message": "Success: Verification code created.", "auth_id"}`, as it did.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.errors import retry_headers
from twostep.api.schema_model import ApiModel
from twostep.api.verification_errors import describe_error, first_issue
from twostep.domain import errors as e

USAGE = {
    "POST": "Required arguments: 'auth_id' (str), 'recipient' (int, length=11)",
    "GET": "Required arguments: 'auth_id' (str), 'code' (int)",
}
# The fields Flowroute's API had; errors about twostep's own fields keep twostep's message.
FLOWROUTE_FIELDS = {"auth_id", "recipient", "code", "body"}
_CODE_ANSWERS: tuple[tuple[type[e.TwoStepError], str, str], ...] = (
    (e.WrongCode, "Invalid code", "InvalidAuthCode"),
    (e.ChallengeExpired, "Expired code", "ExpiredAuthCode"),
    (e.ChallengeGone, "Unknown auth id", "UnknownAuthId"),  # used or out of attempts: it deleted those
    (e.ChallengeNotFound, "Unknown auth id", "UnknownAuthId"),
)


class FlowrouteCreatedOut(ApiModel):
    message: str
    auth_id: str


def _code_answer(error: e.TwoStepError) -> dict[str, Any] | None:
    for cls, message, reason in _CODE_ANSWERS:
        if isinstance(error, cls):
            left = error.attempts_remaining if isinstance(error, e.WrongCode) else 0
            return {"message": message, "reason": reason, "attempts_left": left}
    return None


def compat_error(error: e.TwoStepError, method: str) -> JSONResponse:
    """Flowroute's status (400 for every refusal) and body for an error."""
    headers = retry_headers(error)
    body = _code_answer(error)
    status = 400
    if body is None:
        precise, reason, message = describe_error(error)
        if isinstance(error, e.InvalidInput) and (error.field or "body") in FLOWROUTE_FIELDS:
            message = USAGE.get(method, message)
        body = {"message": message, "reason": reason}
        status = precise if precise >= 500 else 400
    return JSONResponse(body, status_code=status, headers=headers)


class FlowrouteCompatRoute(DeferredRoute):
    """A route answering errors (domain and schema) exactly as Flowroute's sms-verification did."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translating_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except e.TwoStepError as error:
                return compat_error(_looked_up(error, request), request.method)
            except RequestValidationError as error:
                field, problem = first_issue(error)
                return compat_error(e.InvalidInput(f"{field}: {problem}", field=field), request.method)
            except StarletteHTTPException as error:
                if error.status_code == 400 and error.__cause__ is not None:  # malformed JSON
                    return compat_error(e.InvalidInput(field="body"), request.method)
                raise

        return translating_handler


def _looked_up(error: e.TwoStepError, request: Request) -> e.TwoStepError:
    """A check's one `auth_id` that no code can have (empty, over 120 characters, a control character) is
    an unknown id, as Flowroute's service answered after looking it up and finding nothing; a repeated
    `auth_id` stays a usage error (`refuse_repeated`)."""
    if (
        request.method == "GET"
        and isinstance(error, e.InvalidInput)
        and error.field == "auth_id"
        and len(request.query_params.getlist("auth_id")) == 1
    ):
        return e.ChallengeNotFound()
    return error
