"""The Lambda entry point of the HTTP API: the same FastAPI app as `twostep serve`, through Mangum.

The app and its container are built once per Lambda container, on the first invocation: importing this
module stays cheap (nothing heavy at import), and a container that is never invoked costs nothing.
Measured on this machine (bench/lambda_cold_start.py): importing the module is a few milliseconds,
building the app over DynamoDB + Secrets Manager about a second, mostly imports (FastAPI, pydantic,
boto3) and one Secrets Manager read; warm invocations reuse everything.
"""

from __future__ import annotations

from typing import Any

from twostep.aws.lazy import BuiltOnce

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
    from mangum import Mangum

    from twostep.api.app import create_app
    from twostep.container import build
    from twostep.logs import configure_logging
    from twostep.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    return Mangum(create_app(build(settings)), lifespan="off", text_mime_types=TEXT_MIME_TYPES)


_handler: BuiltOnce[Any] = BuiltOnce(_build)


def get_handler() -> Any:
    """The Mangum adapter, built on first use. Raises what `container.build` raises."""
    return _handler.get()


def reset() -> None:
    """Forget the built app (tests build it again with other settings)."""
    _handler.reset()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway (REST proxy or HTTP API v2) event in, proxy response out."""
    response: dict[str, Any] = get_handler()(event, context)
    return response
