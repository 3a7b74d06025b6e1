"""OpenAPI descriptions of the error answers each route can give (all problem+json)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from twostep.api.schemas import Problem

if TYPE_CHECKING:
    from fastapi import FastAPI

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

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
    """OpenAPI `responses` for the given error statuses, each a problem+json body.

    No `"model": Problem` here: FastAPI builds a pydantic field for every such model on every route,
    twice (when the route is declared, and when a request first reaches its router), for nothing but
    the OpenAPI document: 1,400 fields, a sixth of the Lambda handler's import and first response.
    `add_problem_bodies` adds what the model gave to the document instead, once, when it is asked for.
    """
    return {
        status: {
            "description": _TEXT[status],
            "content": {"application/problem+json": {"schema": dict(PROBLEM_REF)}},
        }
        for status in sorted(set(statuses))
    }


@cache
def problem_component() -> dict[str, Any]:
    """`Problem`'s schema exactly as FastAPI writes a response model into `components` (one route's worth)."""
    from fastapi.openapi.utils import get_openapi
    from fastapi.routing import APIRoute

    def endpoint() -> None:
        """Never served: only here to have FastAPI describe `Problem`."""

    route = APIRoute("/", endpoint, responses={400: {"model": Problem}})
    schemas: dict[str, dict[str, Any]] = get_openapi(title="-", version="-", routes=[route])["components"][
        "schemas"
    ]
    return schemas["Problem"]


def add_body_limit(document: dict[str, Any]) -> None:
    """The 413 on every operation: the body limit answers before any route (api.request_middleware), by
    `Content-Length`, so a GET or a POST without a body answers it too when sent one over the limit; only
    routes with a body listed it, and clients and schema checkers met an answer the document did not name."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "413" not in responses:
                responses["413"] = errors(413)[413]
                operation["responses"] = dict(sorted(responses.items()))


def add_problem_bodies(document: dict[str, Any]) -> None:
    """What `"model": Problem` gave each problem+json answer: an `application/json` body of the same
    schema after it, and `Problem` among the components (kept in FastAPI's sorted order)."""
    found = False
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if content.get("application/problem+json") == {"schema": PROBLEM_REF}:
                    content["application/json"] = {"schema": dict(PROBLEM_REF)}
                    found = True
    if found:
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = problem_component()
        document["components"]["schemas"] = dict(sorted(schemas.items()))


# Routes that need an access token say so in OpenAPI (the check itself reads the header directly, see
# `api/deps.get_claims`); `api/app.py` declares the `bearerAuth` scheme.
BEARER: dict[str, Any] = {"security": [{"bearerAuth": []}]}
BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "`Bearer <jwt>`; a raw `<jwt>` is accepted too.",
}


def complete_document(app: FastAPI, security_schemes: dict[str, Any] | None = None) -> None:
    """Once, when the OpenAPI document is first asked for: the body limit's 413 on every operation, the
    problem+json bodies' `Problem` schema (see `errors`), and the security schemes the routes name."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()  # FastAPI caches this very dict as app.openapi_schema
        add_body_limit(document)
        add_problem_bodies(document)
        if security_schemes:
            document.setdefault("components", {}).setdefault("securitySchemes", {}).update(security_schemes)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
