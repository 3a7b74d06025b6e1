"""SNS through boto3 over real HTTP: moto's server for delivery, a local server for SNS's error answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import boto3
import httpx
import pytest

from tests.sms.conftest import TEST_TIMEOUT_SECONDS, sms_settings
from tests.sms.provider_server import ProviderServer, Reply
from twostep.domain.clock import FixedClock
from twostep.domain.errors import ConfigurationError, SmsDeliveryError
from twostep.domain.ports import SmsSender
from twostep.sms import SenderDeps, build_delivery
from twostep.sms.http import timeout_for
from twostep.storage.memory import MemoryStorage

TO = "+12065551234"
BODY = "123456 is your twostep sign-in code. It expires in 2 minutes. Don't share it."


def build_sns(tmp_path: Path, session: boto3.Session, **overrides: Any) -> SmsSender:
    # moto loads its SNS backend on the first request, which can take longer than the short test timeout.
    overrides.setdefault("sms_timeout_seconds", 10)
    overrides.setdefault("sms_providers", ["sns"])
    settings = sms_settings(tmp_path, **overrides)
    # Loopback stand-ins for the HTTP providers: no proxy from the environment.
    http = httpx.Client(timeout=timeout_for(settings), trust_env=False)
    deps = SenderDeps(outbox=MemoryStorage(), clock=FixedClock(), boto_session=session, http=http)
    return build_delivery(settings, deps)


def recorded_sms(endpoint: str, message_id: str) -> dict[str, Any]:
    # data.json dumps every model of the session's shared moto server (the contract suite's DynamoDB items
    # included): on a loaded machine it took over 5 s, so the bound is generous (it asserts no time).
    with urlopen(f"{endpoint}/moto-api/data.json", timeout=60) as response:
        data = json.load(response)
    matches = [sms for sms in data["sns"]["SMS"] if sms["message_id"] == message_id]
    assert len(matches) == 1, "moto did not record the message"
    return dict(matches[0])


def test_publishes_transactional_sms_to_moto(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, session: boto3.Session, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    sender = build_sns(tmp_path, session, sns_sender_id="twostep")

    message_id = sender.send(TO, BODY)

    sms = recorded_sms(moto_server, message_id)
    assert (sms["phone_number"], sms["message"]) == (TO, BODY)
    (sent,) = session.sent  # type: ignore[attr-defined]
    entry = "MessageAttributes.entry.{}.{}"
    attributes = {
        sent[entry.format(i, "Name")][0]: sent[entry.format(i, "Value.StringValue")][0] for i in (1, 2)
    }
    assert attributes == {"AWS.SNS.SMS.SMSType": "Transactional", "AWS.SNS.SMS.SenderID": "twostep"}
    assert (sent["Action"], sent["PhoneNumber"], sent["Message"]) == (["Publish"], [TO], [BODY])


def test_without_sender_id_only_the_sms_type_is_set(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, session: boto3.Session, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    sender = build_sns(tmp_path, session)

    recorded_sms(moto_server, sender.send(TO, BODY))

    (sent,) = session.sent  # type: ignore[attr-defined]
    assert sent["MessageAttributes.entry.1.Name"] == ["AWS.SNS.SMS.SMSType"]
    assert "MessageAttributes.entry.2.Name" not in sent


def test_invalid_number_is_rejected_number(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, session: boto3.Session, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    sender = build_sns(tmp_path, session)

    with pytest.raises(SmsDeliveryError) as raised:
        sender.send("+0123", BODY)

    assert raised.value.reason == "rejected_number"
    assert len(session.sent) == 1  # type: ignore[attr-defined]


def sns_error(status: int, code: str, kind: str = "Sender") -> Reply:
    xml = (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
        f"<Type>{kind}</Type><Code>{code}</Code><Message>no</Message></Error>"
        "<RequestId>9b1c6f0e-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    )
    return Reply(status, xml.encode(), "text/xml")


@pytest.mark.parametrize(
    ("reply", "reason", "requests"),
    [
        (sns_error(403, "AuthorizationError"), "auth", 1),
        (sns_error(400, "InvalidParameter"), "rejected_number", 1),
        (sns_error(500, "InternalError", "Receiver"), "provider_error", 2),
        (Reply.hang(), "timeout", 1),
    ],
    ids=["403", "400", "500", "hang"],
)
def test_sns_errors_map_to_reasons_and_only_5xx_is_retried_once(
    reply: Reply,
    reason: str,
    requests: int,
    aws_answering: Callable[[Reply], ProviderServer],
    session: boto3.Session,
    tmp_path: Path,
) -> None:
    server = aws_answering(reply)
    sender = build_sns(tmp_path, session, sms_timeout_seconds=TEST_TIMEOUT_SECONDS)

    with pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert raised.value.reason == reason
    assert len(server.requests) == requests  # botocore's own retries are off


@pytest.mark.parametrize(
    ("code", "logged"),
    [
        ("InvalidParameter", "InvalidParameter"),
        ("KMS.ThrottlingException", "KMS.ThrottlingException"),
        (f"InvalidParameter {TO} " + "A" * 100_000, None),  # an answer that echoes the number, at length
        (TO.lstrip("+"), None),
    ],
)
def test_an_sns_error_code_is_logged_only_when_it_is_a_code(
    code: str,
    logged: str | None,
    aws_answering: Callable[[Reply], ProviderServer],
    session: boto3.Session,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, the failed send's one line carried the answer's `<Code>` as sent: an endpoint or proxy before
    SNS answering 100 kB there (or megabytes) made a line as long, and the number in it unless redacted."""
    aws_answering(sns_error(400, code))
    sender = build_sns(tmp_path, session, sms_timeout_seconds=TEST_TIMEOUT_SECONDS)

    with caplog.at_level(logging.ERROR, "twostep.sms"), pytest.raises(SmsDeliveryError):
        sender.send(TO, BODY)

    (line,) = [record for record in caplog.records if record.getMessage() == "sms not sent"]
    failures = line.__dict__["failures"]
    assert len(failures) < 200
    assert TO.lstrip("+") not in failures
    if logged is None:
        assert "provider_code" not in failures
    else:
        assert failures.endswith(f", provider_code {logged})")


@pytest.mark.parametrize(("header", "wait"), [("\u00b2", None), ("9" * 5000, 3600), ("30", 30)])
def test_sns_retry_after_is_ascii_digits_capped(
    header: str,
    wait: int | None,
    aws_answering: Callable[[Reply], ProviderServer],
    session: boto3.Session,
    tmp_path: Path,
) -> None:
    """`²` passed str.isdigit and then broke int() (ValueError, a 500); 5000 digits broke it too."""
    aws_answering(replace(sns_error(400, "Throttling"), headers=(("Retry-After", header),)))
    sender = build_sns(tmp_path, session, sms_timeout_seconds=TEST_TIMEOUT_SECONDS)

    with pytest.raises(SmsDeliveryError) as raised:
        sender.send(TO, BODY)

    assert raised.value.retry_after == wait


def test_region_is_required(tmp_path: Path) -> None:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    session._session.set_config_variable("region", None)

    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        build_sns(tmp_path, session)


@pytest.mark.parametrize("sender_id", ["123456", "far-too-long-id", "two words"])
def test_bad_sender_id_is_refused(sender_id: str, session: boto3.Session, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TWOSTEP_SNS_SENDER_ID"):
        build_sns(tmp_path, session, sns_sender_id=sender_id)


PUBLISH_WITHOUT_ID = (
    b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult></PublishResult>'
    b"<ResponseMetadata><RequestId>9b1c6f0e-0000-4000-8000-000000000000</RequestId></ResponseMetadata>"
    b"</PublishResponse>"
)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200),
        Reply(200, b"<html><body>Welcome to the proxy</body></html>", "text/html"),
        Reply.json(200, {"MessageId": "not-xml"}),
    ],
    ids=["empty", "html", "json"],
)
def test_an_unreadable_sns_answer_fails_over(
    reply: Reply,
    start_server: Callable[[], ProviderServer],
    monkeypatch: pytest.MonkeyPatch,
    session: boto3.Session,
    tmp_path: Path,
) -> None:
    """botocore's ResponseParserError (an empty or JSON body) and its KeyError (an HTML page parsed as
    XML without Publish's result) went past the SNS sender and the failover: the sign-in answered 500
    and the next provider was never tried. Such an answer is now `provider_error`, not retried on SNS
    (it may have taken the message), and the next provider takes the text."""
    sns, twilio = start_server(), start_server()
    sns.always(reply)
    twilio.always(Reply.json(201, {"sid": "SMabc"}))
    monkeypatch.setenv("AWS_ENDPOINT_URL", sns.url)
    sender = build_sns(
        tmp_path,
        session,
        sms_timeout_seconds=TEST_TIMEOUT_SECONDS,
        sms_providers=["sns", "twilio"],
        twilio_base_url=twilio.url,
    )

    assert sender.send(TO, BODY) == "SMabc"
    assert (len(sns.requests), len(twilio.requests)) == (1, 1)


def test_an_sns_answer_without_a_message_id_counts_as_sent(
    aws_answering: Callable[[Reply], ProviderServer],
    session: boto3.Session,
    tmp_path: Path,
) -> None:
    """A Publish result without its MessageId raised KeyError (a 500) though SNS took the message; it is
    now sent, with the id `unknown` (no receipt can match it), and not sent again elsewhere."""
    server = aws_answering(Reply(200, PUBLISH_WITHOUT_ID, "text/xml"))
    sender = build_sns(tmp_path, session, sms_timeout_seconds=TEST_TIMEOUT_SECONDS)

    assert sender.send(TO, BODY) == "unknown"
    assert len(server.requests) == 1
