"""Each HTTP provider maps 401, 400, 500 and a hang, answered in the provider's own error shape, to one
stable reason; 5xx is retried exactly once, nothing else is; no secret, number or text leaks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from tests.sms.conftest import SECRETS
from tests.sms.provider_server import ProviderServer, Reply
from twostep.domain.errors import SmsDeliveryError
from twostep.domain.ports import SmsSender
from twostep.sms.http import reason_for_status

TO = "+12065551234"
ANSWER_CAP = 64 * 1024  # the longest provider answer read, as docs/sms-providers.md says
BODY = "987654 is your twostep sign-in code. It expires in 2 minutes. Don't share it."


def twilio_error(status: int, code: int, message: str) -> Reply:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return Reply.json(status, {"code": code, "message": message, "more_info": more_info, "status": status})


def flowroute_error(status: int, title: str, detail: str) -> Reply:
    error = {"detail": detail, "id": "7e4ae3ae-a0c4-4e51-8bd9-1f4e2c4bf0b6", "status": status, "title": title}
    return Reply.json(status, {"errors": [error]}, "application/vnd.api+json")


@dataclass(frozen=True)
class Provider:
    name: str
    base_url_setting: str
    success: Reply
    unauthorized: Reply
    bad_number: Reply
    server_error: Reply


PROVIDERS = [
    Provider(
        "twilio",
        "twilio_base_url",
        Reply.json(201, {"sid": "SMabc", "status": "queued"}),
        twilio_error(401, 20003, "Authenticate"),
        twilio_error(400, 21211, f"The 'To' number {TO} is not a valid phone number."),
        twilio_error(500, 20500, "An internal server error has occurred"),
    ),
    Provider(
        "flowroute",
        "flowroute_base_url",
        Reply.json(202, {"data": {"id": "mdr2-abc", "type": "message"}}, "application/vnd.api+json"),
        flowroute_error(401, "Unauthorized", "Authentication failed."),
        flowroute_error(400, "Bad Request", f"Invalid 'to' number: {TO[1:]}"),
        flowroute_error(500, "Internal Server Error", "An unexpected error occurred."),
    ),
    Provider(
        "sipgate",
        "sipgate_base_url",
        Reply(204),
        Reply.text(401, "Unauthorized"),
        Reply.text(400, "Bad Request"),
        Reply.text(500, "Internal Server Error"),
    ),
]


@pytest.fixture(params=PROVIDERS, ids=lambda provider: provider.name)
def provider(request: pytest.FixtureRequest) -> Provider:
    return request.param  # type: ignore[no-any-return]


def sender_for(provider: Provider, server_url: str, delivery: Callable[..., SmsSender]) -> SmsSender:
    return delivery(sms_providers=[provider.name], **{provider.base_url_setting: server_url})


def assert_nothing_secret(error: SmsDeliveryError, records: list[logging.LogRecord]) -> None:
    texts = [str(error), repr(error.details)] + [repr(record.__dict__) for record in records]
    for text in texts:
        for secret in (*SECRETS, TO[2:], BODY, "987654"):
            assert secret not in text


@pytest.mark.parametrize(
    ("answer", "reason", "requests"),
    [
        ("unauthorized", "auth", 1),
        ("bad_number", "rejected_number", 1),
        ("server_error", "provider_error", 2),
        ("hang", "timeout", 1),
    ],
)
def test_failure_maps_to_reason_and_retries_only_5xx_once(
    provider: Provider,
    answer: str,
    reason: str,
    requests: int,
    start_server: Callable[[], ProviderServer],
    delivery: Callable[..., SmsSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = start_server()
    server.always(Reply.hang() if answer == "hang" else getattr(provider, answer))
    sender = sender_for(provider, server.url, delivery)

    with caplog.at_level(logging.DEBUG, logger="twostep"), pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert raised.value.reason == reason
    assert len(server.requests) == requests
    assert_nothing_secret(raised.value, caplog.records)


def test_one_5xx_then_success_delivers_on_the_retry(
    provider: Provider, start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    server = start_server()
    server.always(provider.success)
    server.answer(provider.server_error)
    sender = sender_for(provider, server.url, delivery)

    assert sender.send(TO, BODY)
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body


def test_refused_connection_is_retried_once(
    provider: Provider,
    start_server: Callable[[], ProviderServer],
    delivery: Callable[..., SmsSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = start_server()
    closed_url = server.url
    server.stop()  # nothing listens on this port any more
    sender = sender_for(provider, closed_url, delivery)

    # Each attempt's lines are DEBUG; the send's one line (`sms not sent`) names the connection error.
    with caplog.at_level(logging.DEBUG, logger="twostep"), pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert raised.value.reason == "provider_error"
    retries = [record for record in caplog.records if record.getMessage() == "sms provider retried"]
    unreachable = [record for record in caplog.records if record.getMessage() == "sms provider unreachable"]
    assert (len(retries), len(unreachable)) == (1, 2)
    (line,) = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert line.__dict__["failures"] == f"{provider.name}: provider_error (error ConnectError)"


def test_4xx_fails_over_without_retry(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    first, second = start_server(), start_server()
    first.always(PROVIDERS[0].bad_number)
    second.always(PROVIDERS[1].success)
    sender = delivery(
        sms_providers=["twilio", "flowroute"], twilio_base_url=first.url, flowroute_base_url=second.url
    )

    assert sender.send(TO, BODY) == "mdr2-abc"
    assert (len(first.requests), len(second.requests)) == (1, 1)


def test_twilio_4xx_about_our_own_sender_is_a_provider_error(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    server = start_server()
    server.always(twilio_error(400, 21606, "The From phone number is not a valid, SMS-capable number."))
    sender = delivery(sms_providers=["twilio"], twilio_base_url=server.url)

    with pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert raised.value.reason == "provider_error"
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "reason"),
    [(400, "rejected_number"), (422, "rejected_number"), (401, "auth"), (403, "auth"), (429, "throttled")]
    + [(status, "provider_error") for status in (402, 404, 415, 500, 502, 503)],
)
def test_reason_for_status(status: int, reason: str) -> None:
    assert reason_for_status(status) == reason


@pytest.mark.parametrize("status", [402, 429])
def test_no_balance_or_rate_limit_is_not_retried(
    status: int, start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    server = start_server()
    server.always(Reply.text(status, "Payment Required" if status == 402 else "Too Many Requests"))
    sender = delivery(sms_providers=["sipgate"], sipgate_base_url=server.url)

    with pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert raised.value.reason == ("provider_error" if status == 402 else "throttled")
    assert len(server.requests) == 1


def mislabelled(reply: Reply) -> Reply:
    """`reply` marked gzip but sent plain, as a broken proxy in front of a provider may answer."""
    return replace(reply, headers=(("Content-Encoding", "gzip"),))


def test_an_answer_that_cannot_be_decoded_is_a_provider_error(
    provider: Provider,
    start_server: Callable[[], ProviderServer],
    delivery: Callable[..., SmsSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """httpx's DecodingError escaped every sender (only TransportError was mapped): the API answered 500
    instead of 503 and no later provider was tried."""
    server = start_server()
    server.always(mislabelled(provider.server_error if provider.name == "sipgate" else provider.success))
    sender = sender_for(provider, server.url, delivery)

    with caplog.at_level(logging.DEBUG, logger="twostep"), pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert (raised.value.reason, raised.value.retryable) == ("provider_error", False)
    assert len(server.requests) == 1  # it reached the provider, which may have taken it: not sent again there
    unreadable = [
        record for record in caplog.records if record.getMessage() == "sms provider answer unreadable"
    ]
    assert [record.__dict__["error"] for record in unreadable] == ["DecodingError"]
    assert_nothing_secret(raised.value, caplog.records)


def test_an_undecodable_answer_fails_over_to_the_next_provider(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    """The next provider was never asked: the DecodingError went past the failover as it was."""
    first, second = start_server(), start_server()
    first.always(mislabelled(PROVIDERS[0].success))
    second.always(PROVIDERS[1].success)
    sender = delivery(
        sms_providers=["twilio", "flowroute"], twilio_base_url=first.url, flowroute_base_url=second.url
    )

    assert sender.send(TO, BODY) == "mdr2-abc"
    assert (len(first.requests), len(second.requests)) == (1, 1)
    assert second.requests[0].json() == {"to": TO[1:], "from": "12065550100", "body": BODY}


def test_an_accepted_answer_nested_too_deeply_keeps_the_message_sent(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    """Reading the id out of JSON nested beyond Python's recursion limit raised RecursionError (a 500)."""
    server = start_server()
    server.always(Reply(201, b"[" * 30_000 + b"]" * 30_000, "application/json"))  # under the 64 KiB cap
    sender = delivery(sms_providers=["twilio"], twilio_base_url=server.url)

    assert sender.send(TO, BODY) == "unknown"
    assert len(server.requests) == 1


def test_a_trickling_answer_ends_at_the_deadline(
    provider: Provider,
    start_server: Callable[[], ProviderServer],
    delivery: Callable[..., SmsSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The read timeout bounded each read, not the answer: a provider sending its answer a byte every
    0.2 s (within the 0.5 s read timeout) held the sign-in for as long as the answer lasted (minutes
    for a longer one), though `TWOSTEP_SMS_TIMEOUT_SECONDS` promises a 503 after a hang. It now ends at
    connect plus read timeout (1 s here) as a timeout, and the next provider is tried."""
    server = start_server()
    answer = provider.server_error if provider.name == "sipgate" else provider.success
    server.always(replace(answer, body=answer.body + b" " * 200, drip_seconds=0.2))
    sender = sender_for(provider, server.url, delivery)

    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="twostep"), pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert time.monotonic() - started < 2.5
    assert (raised.value.reason, raised.value.retryable) == ("timeout", False)
    assert len(server.requests) == 1
    assert_nothing_secret(raised.value, caplog.records)


def test_a_huge_answer_is_not_read_into_memory(
    provider: Provider,
    start_server: Callable[[], ProviderServer],
    delivery: Callable[..., SmsSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Any answer was read whole into memory, however long: a provider endpoint (or a proxy before it)
    answering hundreds of MiB grew the worker by as much, and a 2xx one counted as sent. An accepting
    answer over 64 KiB is now an unreadable answer (`provider_error`, the next provider is tried)."""
    server = start_server()
    accepted = provider.success if provider.name != "sipgate" else replace(provider.success, status=200)
    server.always(replace(accepted, body=accepted.body + b" " * (ANSWER_CAP + 1)))
    sender = sender_for(provider, server.url, delivery)

    with caplog.at_level(logging.DEBUG, logger="twostep"), pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert (raised.value.reason, raised.value.retryable) == ("provider_error", False)
    assert len(server.requests) == 1
    unreadable = [
        record for record in caplog.records if record.getMessage() == "sms provider answer unreadable"
    ]
    assert [record.__dict__["error"] for record in unreadable] == ["AnswerTooLarge"]
    assert_nothing_secret(raised.value, caplog.records)


def test_a_huge_error_page_still_counts_by_its_status(
    provider: Provider, start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    """A 5xx whose body passes the cap (a proxy's error page) is read no further and is still a 5xx:
    retried once, then the next provider."""
    server = start_server()
    server.always(Reply(502, b"<html>" + b" " * (ANSWER_CAP * 4) + b"</html>", "text/html"))
    sender = sender_for(provider, server.url, delivery)

    with pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert raised.value.reason == "provider_error"
    assert len(server.requests) == 2


def test_an_answer_just_under_the_cap_is_read(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    server = start_server()
    body = b'{"sid": "SMabc"}'
    server.always(Reply(201, body + b" " * (ANSWER_CAP - len(body)), "application/json"))

    assert delivery(sms_providers=["twilio"], twilio_base_url=server.url).send(TO, BODY) == "SMabc"
