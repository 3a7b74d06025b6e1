"""What the HTTP providers (twilio, flowroute, sipgate) share: settings checks, one POST, error mapping.

Every outcome that is not a 2xx answer becomes one `SmsDeliveryError` with a stable
reason. Neither the error nor the log carries credentials, the number or the message text: provider
error bodies often echo the number, so only the status and the provider's numeric code are logged.
Retrying is not done here; `FailoverSender` retries once what `retryable` marks safe.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from twostep.domain.errors import ConfigurationError, SmsDeliveryError
from twostep.settings import Settings
from twostep.sms.retry_after import MAX_RETRY_AFTER_SECONDS, delay_seconds

logger = logging.getLogger("twostep.sms")

# Refines the reason of a 4xx answer from the provider's error body; None keeps the status-based reason.
Classifier = Callable[[httpx.Response], str | None]


def configured(value: str | SecretStr | None) -> str:
    """A setting the provider cannot work without, stripped.

    Whether it is set is checked once, at start-up, from the registry's `needs` (`build_sender` names a
    missing one); a sender does not check it again.

    Raises:
        LookupError: the value is unset, so the sender was built around `build_sender` (a bug).
    """
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if text is None:
        raise LookupError("a required provider setting is unset: build senders with build_sender")
    return text.strip()


def optional(value: str | None) -> str | None:
    """An optional setting, stripped; blank means unset, as the registry's `needs` count it."""
    text = (value or "").strip()
    return text or None


E164_NUMBER = re.compile(r"\+[1-9][0-9]{6,14}")


def e164_number(number: str, setting: str) -> str:
    """A sender number setting in E.164 form.

    Raises:
        ConfigurationError: naming the setting, when it is not `+` and 7 to 15 digits.
    """
    if not E164_NUMBER.fullmatch(number):
        raise ConfigurationError(f"{setting} must be an E.164 number like +15017122661")
    return number


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


# Where the operator should look, logged with a refusal (never sent to callers).
def reason_for_status(status: int) -> str:
    """The stable reason for a non-success HTTP status.

    Only 400 and 422 say something about the request's content (the number); 402 (no balance), 404,
    415 and 5xx are the provider's or our configuration's problem; 429 asks us to slow down.
    """
    if status in (401, 403):
        return "auth"
    if status in (400, 422):
        return "rejected_number"
    if status == 429:
        return "throttled"
    return "provider_error"


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> int | None:
    """A `Retry-After` header (seconds or an HTTP date) as whole seconds, capped at an hour; else None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value[0].isdigit():  # meant as seconds (a date starts with its day's name); `²` is refused there
        return delay_seconds(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    return min(MAX_RETRY_AFTER_SECONDS, max(1, math.ceil(seconds)))


# A provider's answer is a few hundred bytes of JSON (an error with its help link included); a longer one
# is not read further, so a broken or hostile endpoint cannot fill the worker's memory.
MAX_ANSWER_BYTES = 64 * 1024


# Headers about the body as it came over the wire (raw bytes: a header's value need not be ASCII).
BODY_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


class AnswerTooLarge(httpx.DecodingError):
    """An answer body longer than `MAX_ANSWER_BYTES` (after any Content-Encoding is undone)."""


class Deadline(Mapping[str, float | None]):
    """httpx's timeouts for one request, each cut to what is left of the request's whole deadline.

    httpx's read timeout bounds each socket read, not the answer: a provider that sent a byte every few
    seconds held the request (and the user's sign-in) for as long as it liked. The deadline is connect
    plus read timeout after the request began. httpcore looks the timeouts up at each step of the
    exchange (connecting, sending, reading the answer's headers, reading its body), so a later step gets
    at most what is left; within the body, `read_capped` checks the deadline after every read.
    """

    def __init__(self, timeout: httpx.Timeout) -> None:
        self._timeouts = timeout.as_dict()
        connect, read = timeout.connect, timeout.read
        self._ends = None if connect is None or read is None else time.monotonic() + connect + read

    def passed(self) -> bool:
        return self._ends is not None and time.monotonic() >= self._ends

    def __getitem__(self, name: str) -> float | None:
        limit = self._timeouts[name]
        if self._ends is None:
            return limit
        # Never 0: a zero timeout makes the socket non-blocking, which httpcore reports as a read error.
        left = max(0.001, self._ends - time.monotonic())
        return left if limit is None else min(limit, left)

    def __iter__(self) -> Iterator[str]:
        return iter(self._timeouts)

    def __len__(self) -> int:
        return len(self._timeouts)


def post(
    http: httpx.Client,
    url: str,
    *,
    provider: str,
    credentials: tuple[str, str],
    classify: Classifier | None = None,
    status_reasons: Mapping[int, str] | None = None,
    **request: Any,
) -> httpx.Response:
    """POST with HTTP Basic auth; returns the response when its status is 2xx.

    `request` goes to httpx as is (`data`, `json`, `content`, `headers`); `status_reasons` gives a
    provider's own meaning of a status (sipgate's 403 is not about credentials).

    Raises:
        SmsDeliveryError: timeout, connection failure, an answer that cannot be read, or any other status.
    """
    deadline = Deadline(http.timeout)
    try:
        with http.stream(
            "POST", url, auth=httpx.BasicAuth(*credentials), extensions={"timeout": deadline}, **request
        ) as streamed:
            response = read_capped(streamed, deadline)
    except httpx.TransportError as exc:
        raise transport_failure(exc, provider) from None
    except httpx.HTTPError as exc:
        raise unreadable_answer(exc, provider) from None
    if response.is_success:
        return response
    raise status_failure(response, provider, classify, status_reasons)


def read_capped(streamed: httpx.Response, deadline: Deadline) -> httpx.Response:
    """The answer with its body read, at most `MAX_ANSWER_BYTES` of it, before `deadline`.

    A refusal's longer body (a proxy's error page) is dropped unread: its status says what happened.

    Raises:
        AnswerTooLarge: an accepting answer's body is longer (its message id cannot be read).
        httpx.ReadTimeout: the deadline passed before the body's end.
        httpx.HTTPError: as reading the body raises it (a body that cannot be decoded, a lost connection).
    """
    body = bytearray()
    for chunk in streamed.iter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            if streamed.is_success:
                raise AnswerTooLarge("the provider's answer is too long")
            body.clear()
            break
        if deadline.passed():
            raise httpx.ReadTimeout("the provider's answer took too long", request=streamed.request)
    # The body is decoded already: without these headers the copy is not decoded or checked again.
    headers = [(name, value) for name, value in streamed.headers.raw if name.lower() not in BODY_HEADERS]
    return httpx.Response(
        streamed.status_code, headers=headers, content=bytes(body), request=streamed.request
    )


def transport_failure(exc: httpx.TransportError, provider: str) -> SmsDeliveryError:
    """Map a failure to reach the provider; retryable only when the request surely was not sent."""
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    reason = "timeout" if isinstance(exc, httpx.TimeoutException) else "provider_error"
    # DEBUG: the failover's one line of the send names the error (`sms not sent`).
    logger.debug(
        "sms provider unreachable",
        extra={"provider": provider, "reason": reason, "error": type(exc).__name__, "retryable": not_sent},
    )
    facts = {"error": type(exc).__name__}
    return SmsDeliveryError(reason, provider=provider, retryable=not_sent, facts=facts)


def unreadable_answer(exc: httpx.HTTPError, provider: str) -> SmsDeliveryError:
    """Map an answer httpx could not read (a body whose Content-Encoding lies, endless redirects).

    The provider got the request and may have taken the message, so it is not retried on the same
    provider; the next provider is tried, as for any refusal.
    """
    logger.debug(
        "sms provider answer unreadable",
        extra={"provider": provider, "reason": "provider_error", "error": type(exc).__name__},
    )
    facts = {"error": type(exc).__name__}
    return SmsDeliveryError("provider_error", provider=provider, retryable=False, facts=facts)


def status_failure(
    response: httpx.Response,
    provider: str,
    classify: Classifier | None,
    status_reasons: Mapping[int, str] | None = None,
) -> SmsDeliveryError:
    """Map a non-success answer; only 5xx without a Retry-After is retryable at once.

    A `Retry-After` (429, 503) is carried on the error, so the next attempt waits for it.
    """
    status = response.status_code
    reason = (status_reasons or {}).get(status) or reason_for_status(status)
    if classify is not None and 400 <= status < 500 and reason not in ("auth", "sender_refused", "throttled"):
        reason = classify(response) or reason
    retry_after = retry_after_seconds(response)
    facts = {"status": status, "provider_code": error_code(response)}
    logger.debug("sms provider refused the message", extra={"provider": provider, "reason": reason, **facts})
    return SmsDeliveryError(
        reason,
        provider=provider,
        retryable=status >= 500 and retry_after is None,
        retry_after=retry_after,
        facts=facts,
    )


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or an empty dict when it has none."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply to parse
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
