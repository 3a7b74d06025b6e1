"""The Lambda entry point of the HTTP API: the same FastAPI app as `twostep serve`, through Mangum.

The app and its container are built once per Lambda container, on the first invocation, not at import:
measured here against moto over loopback, importing this module takes ~25 ms, the first invocation
2.7-3.8 s (importing FastAPI, pydantic, boto3 and Argon2, one Secrets Manager read, one KMS data key,
one DynamoDB probe) and a warm one 8-30 ms. Building at import would move the same work into Lambda's init
phase without making it smaller, and would turn a missing secret or an unreachable table into a crashing
init; built lazily, such a failure answers 503 (problem+json) and the next invocation tries again.
"""

from __future__ import annotations

import gc
import json
import logging
from typing import Any

from twostep.api.causes import describe_cause
from twostep.aws.emf import EmfMetrics
from twostep.aws.lazy import BuiltOnce
from twostep.domain.errors import TwoStepError

logger = logging.getLogger("twostep.aws")

# Mangum's defaults plus problem details, so error bodies stay readable text rather than base64.
TEXT_MIME_TYPES = [
    "text/",
    "application/json",
    "application/problem+json",
    "application/javascript",
    "application/xml",
    "application/vnd.api+json",
    "application/vnd.oai.openapi",
]


def _build() -> Any:
    """The app, built with the cyclic garbage collector paused, its objects then frozen (`gc.freeze`).

    A build makes ~120,000 objects (modules, the app, its routes and schemas) that live as long as the
    container; the collector scanned them over and over while they were made, ~110 ms of a cold start
    (a sixth of it). Frozen, later collections skip them. What the build leaves as cyclic garbage
    (~1,000 objects, measured) is kept, once per container.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        built = _build_app()
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return built


def _build_app() -> Any:
    from mangum import Mangum

    from twostep.api.app import create_app
    from twostep.aws.lambda_settings import lambda_settings
    from twostep.container import build
    from twostep.email import refuse_console_email_in_prod
    from twostep.logs import configure_logging

    settings = lambda_settings()
    configure_logging(settings.log_level, settings.log_format)
    refuse_console_email_in_prod(settings)
    metrics.service = f"twostep-{settings.stage}"  # the dimension template.yaml's alarms watch
    container = build(settings, metrics=metrics)
    return Mangum(create_app(container), lifespan="off", text_mime_types=TEXT_MIME_TYPES)


# The funnel, limits and budget as CloudWatch metrics, written at the end of each invocation.
metrics = EmfMetrics()
_handler: BuiltOnce[Any] = BuiltOnce(_build)


def get_handler() -> Any:
    """The Mangum adapter, built on first use. Raises what `container.build` raises."""
    return _handler.get()


def reset() -> None:
    """Forget the built app (tests build it again with other settings); its objects can be collected again."""
    _handler.reset()
    gc.unfreeze()


def _unavailable(error: TwoStepError) -> dict[str, Any]:
    """A 503 problem answer for a container that could not be built (nothing secret in it)."""
    body = {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "code": error.code,
        "detail": error.message,
    }
    return {
        "statusCode": 503,
        "headers": {"content-type": "application/problem+json", "retry-after": "5"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def routed(event: dict[str, Any], prefix: str | None) -> dict[str, Any]:
    """`event` with `prefix` taken off the path Mangum routes by (HTTP API: `requestContext.http.path`,
    REST: `path`). Through a custom domain API Gateway matches the route without its API mapping but
    leaves the mapping in the event's path (a stage other than `$default` too): no route matched it and
    every call answered 404. Mangum's own `api_gateway_base_path` would also cut `/authx` to `x`, and
    `/auth` to an empty path, which was redirected to the domain's root without the mapping."""
    if prefix is None:
        return event
    request = event.get("requestContext")
    http = request.get("http") if isinstance(request, dict) and event.get("version") == "2.0" else None
    if isinstance(http, dict) and isinstance(request, dict):
        stripped = _without_prefix(http.get("path"), prefix)
        if stripped is None:
            return event
        return {**event, "requestContext": {**request, "http": {**http, "path": stripped}}}
    stripped = _without_prefix(event.get("path"), prefix)
    return event if stripped is None else {**event, "path": stripped}


def _without_prefix(path: object, prefix: str) -> str | None:
    """`path` without `prefix` (whole segments; the prefix alone is the root), or None when it has none."""
    if not isinstance(path, str) or not (path == prefix or path.startswith(prefix + "/")):
        return None
    return path[len(prefix) :] or "/"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway (REST proxy or HTTP API v2) event in, proxy response out."""
    try:
        app = get_handler()
    except TwoStepError as exc:  # keys, secret store or table unreachable or misconfigured
        logger.error("the API could not start", extra={"code": exc.code, "cause": describe_cause(exc)})
        return _unavailable(exc)
    container = app.app.state.container
    try:  # no background task in Lambda: the key set is re-read here, every TWOSTEP_KEYS_REFRESH_SECONDS
        container.keys.refresh_if_due()
    except TwoStepError as exc:
        logger.warning("key refresh failed; serving with the keys already read", extra={"code": exc.code})
    try:
        response: dict[str, Any] = app(routed(event, container.settings.api_base_path), context)
    finally:
        metrics.flush()
    return response
