"""What the HTTP providers (twilio, flowroute, sipgate) share: settings checks, one POST, error mapping.

Every outcome that is not a 2xx answer becomes one `SmsDeliveryError` with a stable
reason. Neither the error nor the log carries credentials, the number or the message text: provider
error bodies often echo the number, so only the status and the provider's numeric code are logged.
Retrying is not done here; `FailoverSender` retries once what `retryable` marks safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from twostep.domain.errors import ConfigurationError, SmsDeliveryError
from twostep.settings import Settings

logger = logging.getLogger("twostep.sms")

# Refines the reason of a 4xx answer from the provider's error body; None keeps the status-based reason.
Classifier = Callable[[httpx.Response], str | None]


def require(value: str | SecretStr | None, setting: str, provider: str) -> str:
    """The value of a setting the provider cannot work without.

    Raises:
        ConfigurationError: naming the setting, when it is missing or blank.
    """
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if text is None or not text.strip():
        raise ConfigurationError(f"{setting} is required for the {provider} provider")
    return text.strip()


def client_for(settings: Settings, http: Any) -> httpx.Client:
    """The injected client, or one with the configured timeouts when a provider is built on its own."""
    if http is not None:
        client: httpx.Client = http
        return client
    return httpx.Client(timeout=timeout_for(settings))


def timeout_for(settings: Settings) -> httpx.Timeout:
    """Connect and read timeouts from `TWOSTEP_SMS_TIMEOUT_SECONDS` (connect capped at 3 s)."""
    seconds = settings.sms_timeout_seconds
    return httpx.Timeout(seconds, connect=min(3.0, seconds))


def base_url(value: str) -> str:
    return value.rstrip("/")


def reason_for_status(status: int) -> str:
    """The stable reason for a non-success HTTP status.

    Only 400 and 422 say something about the request's content (the number); 402 (no balance), 404,
    415, 429 and 5xx are the provider's or our configuration's problem.
    """
    if status in (401, 403):
        return "auth"
    if status in (400, 422):
        return "rejected_number"
    return "provider_error"


def post(
    http: httpx.Client,
    url: str,
    *,
    provider: str,
    credentials: tuple[str, str],
    classify: Classifier | None = None,
    **request: Any,
) -> httpx.Response:
    """POST with HTTP Basic auth; returns the response when its status is 2xx.

    `request` goes to httpx as is (`data`, `json`, `content`, `headers`).

    Raises:
        SmsDeliveryError: timeout, connection failure, or any other status.
    """
    try:
        response = http.post(url, auth=httpx.BasicAuth(*credentials), **request)
    except httpx.TransportError as exc:
        raise transport_failure(exc, provider) from None
    if response.is_success:
        return response
    raise status_failure(response, provider, classify)


def transport_failure(exc: httpx.TransportError, provider: str) -> SmsDeliveryError:
    """Map a failure to reach the provider; retryable only when the request surely was not sent."""
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    reason = "timeout" if isinstance(exc, httpx.TimeoutException) else "provider_error"
    logger.warning(
        "sms provider unreachable",
        extra={"provider": provider, "reason": reason, "error": type(exc).__name__, "retryable": not_sent},
    )
    return SmsDeliveryError(reason, provider=provider, retryable=not_sent)


def status_failure(response: httpx.Response, provider: str, classify: Classifier | None) -> SmsDeliveryError:
    """Map a non-success answer; only 5xx is retryable."""
    status = response.status_code
    reason = reason_for_status(status)
    if classify is not None and 400 <= status < 500 and reason != "auth":
        reason = classify(response) or reason
    logger.warning(
        "sms provider refused the message",
        extra={
            "provider": provider,
            "status": status,
            "reason": reason,
            "provider_code": error_code(response),
        },
    )
    return SmsDeliveryError(reason, provider=provider, retryable=status >= 500)


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or an empty dict when it has none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_code(response: httpx.Response) -> int | None:
    """A provider's numeric error code (Twilio's `code`), safe to log; None when absent."""
    code = json_body(response).get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def accepted_id(response: httpx.Response, provider: str, id_of: Callable[[dict[str, Any]], object]) -> str:
    """The message id of an accepted message; `unknown` (logged) when the provider left it out.

    The status already says the provider took the message, so a missing id must not make us send
    it again through the next provider.
    """
    message_id = id_of(json_body(response))
    if isinstance(message_id, str) and message_id:
        return message_id
    logger.warning("sms accepted without a message id", extra={"provider": provider})
    return "unknown"
