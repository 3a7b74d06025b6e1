"""The one table from error to HTTP status, and RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twostep.domain import errors as e
from twostep.logs import request_id_var

logger = logging.getLogger("twostep.api")

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first class an error is an instance of decides its status.
STATUS_TABLE: tuple[tuple[type[e.TwoStepError], int], ...] = (
    (e.WrongCode, 401),
    (e.ChallengeGone, 410),
    (e.ChallengeNotFound, 404),
    (e.InvalidInput, 400),
    # A well-formed request the service refuses by policy (the country allow-list): retrying won't help.
    (e.DestinationNotAllowed, 403),
    (e.AccountExists, 409),
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


def error_response(error: e.TwoStepError) -> JSONResponse:
    status = status_for(error)
    headers = {}
    if isinstance(error, e.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, e.DependencyUnavailable):
        headers["Retry-After"] = "5"
        logger.warning("dependency unavailable", extra={"code": error.code})
    return problem(status, error.code, error.message, headers, **error.details)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.TwoStepError)
    async def _domain_error(_: Request, error: e.TwoStepError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        issues = [
            {"field": _field_name(tuple(item.get("loc", ()))), "message": str(item.get("msg", ""))}
            for item in error.errors()
        ]
        first = issues[0] if issues else {"field": "body", "message": "invalid"}
        return problem(
            422, "invalid_input", f"{first['field']}: {first['message']}", field=first["field"], errors=issues
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return problem(error.status_code, code, str(error.detail), dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected error", exc_info=error)
        return problem(500, "internal_error", "Something went wrong on our side; it has been logged.")
