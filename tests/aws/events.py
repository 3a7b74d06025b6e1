"""API Gateway events built from the JSON samples in `events/` (AWS's documented shapes)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / f"{name}.json").read_text()))


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy event for `method path`."""
    event = copy.deepcopy(load("rest_proxy"))
    all_headers = {**event["headers"], **(headers or {})}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    event.update(
        resource=path,
        path=path,
        httpMethod=method,
        headers=all_headers,
        multiValueHeaders={name: [value] for name, value in all_headers.items()},
        body=None if body is None else json.dumps(body),
        queryStringParameters=query,
        multiValueQueryStringParameters=None if query is None else {k: [v] for k, v in query.items()},
    )
    event["requestContext"].update(resourcePath=path, httpMethod=method, path=f"/dev{path}")
    return event


def http_v2_event(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event; API Gateway lower-cases header names."""
    event = copy.deepcopy(load("http_api_v2"))
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    if body is not None:
        event["headers"]["content-type"] = "application/json"
        event["body"] = json.dumps(body)
    event.update(routeKey=f"{method} {path}", rawPath=path)
    event["requestContext"].update(routeKey=f"{method} {path}")
    event["requestContext"]["http"].update(method=method, path=path)
    return event


def token_event(authorization: str) -> dict[str, Any]:
    event = load("authorizer_token")
    event["authorizationToken"] = authorization
    return event


def request_event(headers: dict[str, str]) -> dict[str, Any]:
    """A REST REQUEST authorizer event whose headers are exactly `headers` plus the usual ones."""
    event = load("authorizer_request")
    kept = {k: v for k, v in event["headers"].items() if k.lower() != "authorization"}
    event["headers"] = {**kept, **headers}
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    return event


def http_v2_authorizer_event(headers: dict[str, str]) -> dict[str, Any]:
    event = load("authorizer_http_v2")
    kept = {k: v for k, v in event["headers"].items() if k != "authorization"}
    event["headers"] = {**kept, **headers}
    event["identitySource"] = [value for name, value in headers.items() if name.lower() == "authorization"]
    return event


def json_body(response: dict[str, Any]) -> Any:
    body = response.get("body")
    if not body:
        return None
    return json.loads(base64.b64decode(body) if response.get("isBase64Encoded") else body)
