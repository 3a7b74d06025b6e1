"""Issue 12's provider rules on the wire: Twilio's ValidityPeriod is the code's lifetime, SNS sends
Transactional from the origination number, a provider's Retry-After is honoured, sipgate's 403 is named
for what it is. Local provider servers and moto, through the container's real sending path."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, register
from tests.sms.conftest import sms_settings
from tests.sms.provider_server import ProviderServer, Reply
from tests.sms.test_sns import build_sns, recorded_sms
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import SmsDeliveryError
from twostep.sms import SenderDeps, build_delivery
from twostep.storage.memory import MemoryStorage

TO = "+12065551234"
BODY = "123456 is your code"


@pytest.fixture
def containers(tmp_path: Path, http_client: httpx.Client) -> Iterator[Callable[..., Container]]:
    built: list[Container] = []

    def make(clock: FixedClock | None = None, **overrides: Any) -> Container:
        container = build(
            sms_settings(tmp_path, **overrides),
            clock=clock or FixedClock(),
            storage=MemoryStorage(),
            http=http_client,
        )
        built.append(container)
        return container

    yield make
    for container in built:
        container.close()


def twilio_created() -> Reply:
    return Reply.json(201, {"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"})


def test_twilio_validity_period_is_the_sign_in_code_lifetime(
    start_server: Callable[[], ProviderServer], containers: Callable[..., Container]
) -> None:
    server = start_server()
    server.always(twilio_created())
    container = containers(sms_providers=["twilio"], twilio_base_url=server.url, otp_ttl_seconds=180)
    with TestClient(create_app(container)) as client:
        register(client)
        assert (
            client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).status_code == 200
        )
    (request,) = server.requests
    assert parse_qs(request.body.decode())["ValidityPeriod"] == ["180"]


def test_twilio_validity_period_follows_a_verification_expiration(
    start_server: Callable[[], ProviderServer], containers: Callable[..., Container]
) -> None:
    server = start_server()
    server.always(twilio_created())
    container = containers(
        sms_providers=["twilio"], twilio_base_url=server.url, verify_api_keys=["shop:k-0123456789abcdef"]
    )
    with TestClient(create_app(container)) as client:
        created = client.post(
            "/verifications",
            json={"auth_id": "order-1", "recipient": TO, "expiration": 300},
            headers={"X-Api-Key": "k-0123456789abcdef"},
        )
    assert created.status_code == 200, created.text
    (request,) = server.requests
    assert parse_qs(request.body.decode())["ValidityPeriod"] == ["300"]


def test_sns_sends_transactional_from_the_origination_number(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, session: boto3.Session, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    sender = build_sns(tmp_path, session, sns_origination_number="+12065550100")

    recorded_sms(moto_server, sender.send(TO, BODY))

    (sent,) = session.sent  # type: ignore[attr-defined]
    entry = "MessageAttributes.entry.{}.{}"
    attributes = {
        sent[entry.format(i, "Name")][0]: sent[entry.format(i, "Value.StringValue")][0] for i in (1, 2)
    }
    assert attributes == {
        "AWS.SNS.SMS.SMSType": "Transactional",
        "AWS.MM.SMS.OriginationNumber": "+12065550100",
    }


def test_sns_refuses_an_origination_that_is_no_number(session: boto3.Session, tmp_path: Path) -> None:
    from twostep.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="TWOSTEP_SNS_ORIGINATION_NUMBER"):
        build_sns(tmp_path, session, sns_origination_number="my-company")


def test_retry_after_is_honoured_and_passed_on(
    start_server: Callable[[], ProviderServer], tmp_path: Path, http_client: httpx.Client
) -> None:
    server = start_server()
    server.answer(Reply(429, b"slow down", "text/plain", headers=(("Retry-After", "120"),)))
    server.default = twilio_created()
    clock = FixedClock()
    settings = sms_settings(tmp_path, sms_providers=["twilio"], twilio_base_url=server.url)
    sender = build_delivery(settings, SenderDeps(outbox=MemoryStorage(), clock=clock, http=http_client))

    with pytest.raises(SmsDeliveryError) as first:
        sender.send(TO, BODY)
    assert (first.value.reason, first.value.retry_after) == ("throttled", 120)
    clock.advance(60)
    with pytest.raises(SmsDeliveryError) as waiting:  # not asked again while it said to wait
        sender.send(TO, BODY)
    assert waiting.value.retry_after == 60
    assert len(server.requests) == 1
    clock.advance(60)
    assert sender.send(TO, BODY).startswith("SM")
    assert len(server.requests) == 2


@pytest.mark.parametrize(("header", "wait"), [("\u00b2", None), ("9" * 400, 3600), ("0x10", None)])
def test_a_strange_retry_after_still_fails_over(
    header: str,
    wait: int | None,
    start_server: Callable[[], ProviderServer],
    tmp_path: Path,
    http_client: httpx.Client,
) -> None:
    """A Retry-After of `²` (str.isdigit accepts it, float() does not) or of 400 digits (OverflowError)
    raised out of the provider: a 500, and the next provider was never asked."""
    twilio, sipgate = start_server(), start_server()
    twilio.always(Reply(429, b"", "text/plain", headers=(("Retry-After", header),)))
    sipgate.always(Reply(204))
    settings = sms_settings(
        tmp_path,
        sms_providers=["twilio", "sipgate"],
        twilio_base_url=twilio.url,
        sipgate_base_url=sipgate.url,
    )
    clock = FixedClock()
    sender = build_delivery(settings, SenderDeps(outbox=MemoryStorage(), clock=clock, http=http_client))

    assert sender.send(TO, BODY).startswith("sipgate-")
    assert (len(twilio.requests), len(sipgate.requests)) == (1, 1)
    clock.advance(3599)
    sender.send(TO, BODY)
    assert len(twilio.requests) == (1 if wait == 3600 else 2)  # a huge wait is capped at an hour


def test_a_throttled_provider_is_skipped_for_the_next_one(
    start_server: Callable[[], ProviderServer], tmp_path: Path, http_client: httpx.Client
) -> None:
    twilio, sipgate = start_server(), start_server()
    twilio.always(Reply(503, b"", "text/plain", headers=(("Retry-After", "30"),)))
    sipgate.always(Reply(204))
    settings = sms_settings(
        tmp_path,
        sms_providers=["twilio", "sipgate"],
        twilio_base_url=twilio.url,
        sipgate_base_url=sipgate.url,
    )
    sender = build_delivery(
        settings, SenderDeps(outbox=MemoryStorage(), clock=FixedClock(), http=http_client)
    )

    assert sender.send(TO, BODY).startswith("sipgate-")
    assert sender.send(TO, BODY).startswith("sipgate-")
    assert len(twilio.requests) == 1  # a 503 with Retry-After is not retried at once, nor on the next send
    assert len(sipgate.requests) == 2


def test_the_api_answers_503_with_the_providers_retry_after(
    start_server: Callable[[], ProviderServer], containers: Callable[..., Container]
) -> None:
    server = start_server()
    server.always(Reply(429, b"", "text/plain", headers=(("Retry-After", "90"),)))
    container = containers(sms_providers=["twilio"], twilio_base_url=server.url)
    with TestClient(create_app(container)) as client:
        register(client)
        answer = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "90"


def test_sipgate_403_is_the_sender_not_the_credentials(
    start_server: Callable[[], ProviderServer],
    delivery: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = start_server()
    server.always(Reply.text(403, "Forbidden"))
    sender = delivery(sms_providers=["sipgate"], sipgate_base_url=server.url, sipgate_sms_id="s9")
    caplog.set_level(logging.WARNING, logger="twostep.sms")

    with pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert raised.value.reason == "sender_refused"
    hints = [
        getattr(r, "hint", None) for r in caplog.records if getattr(r, "reason", None) == "sender_refused"
    ]
    assert hints and "sender" in str(hints[0])


def test_sipgate_401_stays_a_credentials_failure(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., Any]
) -> None:
    server = start_server()
    server.always(Reply.text(401, "Unauthorized"))
    sender = delivery(sms_providers=["sipgate"], sipgate_base_url=server.url)

    with pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert raised.value.reason == "auth"
