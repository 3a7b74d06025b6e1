"""The one table from error to HTTP status, and RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twostep.api.causes import describe_cause
from twostep.api.middleware import BodyTooLarge
from twostep.api.ratelimit_headers import ratelimit_headers
from twostep.domain import errors as e
from twostep.domain.factor_errors import LastSecondFactor
from twostep.domain.idempotency import IdempotencyKeyReused, IdempotencyRequestInProgress
from twostep.logs import request_id_var

logger = logging.getLogger("twostep.api")

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first class an error is an instance of decides its status.
STATUS_TABLE: tuple[tuple[type[e.TwoStepError], int], ...] = (
    (e.WrongCode, 401),
    (e.ChallengeGone, 410),
    (e.ChallengeNotFound, 404),
    (e.InvalidInput, 400),
    # A number codes never go to (country allow-list, number type): retrying won't help.
    (e.DestinationNotAllowed, 422),
    # The fraud guard blocked the number's prefix for a while.
    (e.DestinationBlocked, 403),
    (e.AccountExists, 409),
    (e.CodeBound, 409),
    # A per-account limit is full (passkeys): removing one makes room, so it is a state conflict.
    (e.LimitReached, 409),
    # The account's only second factor: adding another first allows it, a state conflict too.
    (LastSecondFactor, 409),
    # Idempotency-Key: the same key for another request; the first request with it still running.
    (IdempotencyKeyReused, 422),
    (IdempotencyRequestInProgress, 409),
    (e.NotFound, 404),
    (e.InvalidCredentials, 401),
    (e.InvalidToken, 401),
    (e.ApiKeyRequired, 401),
    (e.SecondFactorRequired, 403),
    (e.Forbidden, 403),
    (e.RateLimited, 429),
    (e.DependencyUnavailable, 503),
)

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def status_for(error: e.TwoStepError) -> int:
    for cls, status in STATUS_TABLE:
        if isinstance(error, cls):
            return status
    return 500


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    request_id = request_id_var.get()
    if request_id:
        body["requestId"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def retry_headers(error: e.TwoStepError) -> dict[str, str]:
    """`Retry-After` for limits, failed dependencies (logged here: one warning per 503, either shape, but an
    SMS not sent, which its sender logged) and
    an `Idempotency-Key` whose first request still runs (409); a 429 also carries the IETF
    `RateLimit-Policy` and `RateLimit` fields."""
    if isinstance(error, IdempotencyRequestInProgress):
        return {"Retry-After": str(error.retry_after)}
    if isinstance(error, e.RateLimited | e.DestinationBlocked | e.SmsBudgetExhausted):
        if isinstance(error, e.SmsBudgetExhausted):
            logger.warning(
                "dependency unavailable", extra={"code": error.code, "cause": describe_cause(error)}
            )
        headers = {"Retry-After": str(error.retry_after)}
        if isinstance(error, e.RateLimited):
            headers |= ratelimit_headers(error)
        return headers
    if isinstance(error, e.SmsDeliveryError):
        # Logged where it failed, in one line naming providers, answers and the masked number (`sms not
        # sent`, sms.failover); a second line here told nothing more.
        return {"Retry-After": str(error.retry_after or 5)}
    if isinstance(error, e.DependencyUnavailable):
        logger.warning("dependency unavailable", extra={"code": error.code, "cause": describe_cause(error)})
        return {"Retry-After": "5"}
    return {}


def error_response(error: e.TwoStepError) -> JSONResponse:
    status = status_for(error)
    headers = retry_headers(error)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem(status, error.code, error.message, headers, **error.details)


def _field_name(loc: tuple[Any, ...]) -> str:
    if loc[:1] == ("body",) and len(loc) == 2 and isinstance(loc[1], int):
        return "body"  # a JSON decode error's loc is ("body", <character offset>)
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _issue(item: dict[str, Any]) -> dict[str, str]:
    if item.get("type") == "json_invalid":
        position = item.get("loc", ("body", 0))[-1]
        return {"field": "body", "message": f"the body is not valid JSON (near character {position})"}
    return {"field": _field_name(tuple(item.get("loc", ()))), "message": str(item.get("msg", ""))}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def unsupported_media_type(request: Request, error: RequestValidationError) -> bool:
    """A body sent as something other than JSON: FastAPI then validates the raw bytes and fails."""
    body = getattr(error, "body", None)
    if not isinstance(body, bytes | bytearray) or not body:
        return False
    return not _is_json(request.headers.get("content-type", ""))


def malformed_body() -> JSONResponse:
    return problem(
        422,
        "invalid_input",
        "body: the body is not valid JSON (UTF-8 text, nested at most a few thousand levels)",
        field="body",
        errors=[{"field": "body", "message": "the body is not valid JSON"}],
    )


def allowed_methods(request: Request, starlette_allow: str) -> str:
    """Every method served at this path. Starlette names only the first route's methods, but one
    path here can have a route per method (GET and POST /messages); the OpenAPI paths know them all."""
    methods = {part.strip() for part in starlette_allow.split(",") if part.strip()}
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path):
            methods.update(method.upper() for method in operations)
    if "GET" in methods:
        methods.add("HEAD")  # served as the GET (api.request_middleware)
    return ", ".join(sorted(methods))


def http_error_response(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """Starlette's and FastAPI's own errors (404, 405, body parsing) as problem+json."""
    if isinstance(error.__cause__, BodyTooLarge):  # a streamed body passed the limit mid-read
        return problem(413, "body_too_large", "The body is larger than the service accepts.")
    if error.status_code == 400 and error.__cause__ is not None:
        # FastAPI's bare "error parsing the body": bytes that are not UTF-8, nesting too deep for the
        # parser, a number with more digits than Python converts. All malformed JSON, like a decode error.
        return malformed_body()
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
    code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
        error.status_code, "http_error"
    )
    return problem(error.status_code, code, str(error.detail), headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.TwoStepError)
    async def _domain_error(_: Request, error: e.TwoStepError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        if unsupported_media_type(request, error):
            return problem(
                415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json)."
            )
        issues = [_issue(dict(item)) for item in error.errors()]
        first = issues[0] if issues else {"field": "body", "message": "invalid"}
        return problem(
            422, "invalid_input", f"{first['field']}: {first['message']}", field=first["field"], errors=issues
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return http_error_response(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, __: Exception) -> JSONResponse:
        # Starlette's last resort, outside every middleware: the request middleware has logged and
        # answered a bug already; this answer is sent only for a failure in a middleware itself.
        return internal_error()


def internal_error() -> JSONResponse:
    """A bug's answer: nothing of the error itself."""
    return problem(500, "internal_error", "Something went wrong on our side; it has been logged.")
