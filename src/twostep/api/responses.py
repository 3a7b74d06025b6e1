"""OpenAPI descriptions of the error answers each route can give (all problem+json)."""

from __future__ import annotations

from typing import Any

from twostep.api.schemas import Problem

_TEXT = {
    400: "The input is not valid (the `field` member names it).",
    401: "Not authenticated, or a wrong credential or code.",
    403: "Not allowed.",
    404: "Not found.",
    409: "Conflicts with an existing record.",
    410: "The code or challenge can no longer be used.",
    413: "The body is larger than the service accepts.",
    415: "The body is not sent as JSON (`Content-Type: application/json`).",
    422: "The body is not valid JSON or does not match the schema.",
    429: "A limit was hit; see `Retry-After`.",
    503: "A dependency (storage, SMS provider, secret store) is unavailable; nothing was changed.",
}


# Every route that reads a JSON body can also answer these.
BODY_ERRORS = (413, 415, 422)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses, each a problem+json body."""
    return {
        status: {
            "model": Problem,
            "description": _TEXT[status],
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in sorted(set(statuses))
    }


# Routes that need an access token say so in OpenAPI (the check itself reads the header directly, see
# `api/deps.get_claims`); `api/app.py` declares the `bearerAuth` scheme.
BEARER: dict[str, Any] = {"security": [{"bearerAuth": []}]}
BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "`Bearer <jwt>`; a raw `<jwt>` is accepted too.",
}
