"""`TWOSTEP_EMAIL_REPLY_TO`: where a person's answer to a code or a notice goes (a support desk, while the
emails come from a no-reply address). Set through the settings and carried by both providers, as a real
SMTP server (aiosmtpd) takes the message and as the SES request to the moto server carries it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import settings_for_tests
from tests.email.smtp_server import Inbox, smtp_server
from twostep.domain.clock import FixedClock
from twostep.email import build_email_sender
from twostep.sms import SenderDeps
from twostep.storage.memory import MemoryStorage

REPLY_TO = "Служба поддержки <help@münchen.example>"
# The name RFC 2047 encoded by the header policy; the domain in its IDNA form, as the From address's.
REPLY_NAME, REPLY_ADDRESS = "Служба поддержки", "help@xn--mnchen-3ya.example"


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        yield inbox, port


def _deps(boto_session: Any = None) -> SenderDeps:
    return SenderDeps(outbox=MemoryStorage(), clock=FixedClock(), boto_session=boto_session)


def _parsed(raw: bytes) -> EmailMessage:
    raw.decode("ascii")  # the name went out as RFC 2047 words, not raw UTF-8
    return message_from_bytes(raw, policy=policy.default)


def _reply_to(message: EmailMessage) -> tuple[str, str]:
    assert len(message.get_all("Reply-To") or []) == 1
    (address,) = message["Reply-To"].addresses
    return address.display_name, address.addr_spec


def test_smtp_emails_name_the_reply_address_when_set(tmp_path: Path, smtp_inbox: tuple[Inbox, int]) -> None:
    inbox, port = smtp_inbox
    smtp = {"email_provider": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"}
    build_email_sender(settings_for_tests(tmp_path, **smtp, email_reply_to=REPLY_TO), _deps()).send(
        "anna@example.com", "Your code", "123456"
    )
    build_email_sender(settings_for_tests(tmp_path, **smtp), _deps()).send(
        "anna@example.com", "Your code", "1"
    )
    with_reply, without = (_parsed(raw) for raw in inbox.messages)
    assert _reply_to(with_reply) == (REPLY_NAME, REPLY_ADDRESS)
    assert "Reply-To" not in without  # unset: answers go to the From address, as before


def test_ses_sends_the_reply_address_in_its_raw_message(
    tmp_path: Path, moto_server: str, aws_test_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    session = boto3.Session(region_name="us-east-1")
    session.client("sesv2").create_email_identity(EmailIdentity="no-reply@example.com")
    requests: list[dict[str, Any]] = []
    session.events.register(
        "before-send.sesv2.SendEmail", lambda request, **_: requests.append(json.loads(request.body))
    )
    settings = settings_for_tests(
        tmp_path,
        email_provider="ses",
        aws_region="us-east-1",
        email_from="twostep <no-reply@example.com>",
        email_reply_to=REPLY_TO,
    )
    assert build_email_sender(settings, _deps(session)).send("anna@example.com", "Your code", "123456")
    (request,) = requests
    assert request["FromEmailAddress"] == "no-reply@example.com"  # the envelope sender stays no-reply
    sent = _parsed(base64.b64decode(request["Content"]["Raw"]["Data"]))
    assert _reply_to(sent) == (REPLY_NAME, REPLY_ADDRESS)


@pytest.mark.parametrize("written", ["help desk", "help@", "help@example.com\nBcc: x@example.com"])
def test_a_reply_address_that_is_not_one_stops_the_start(tmp_path: Path, written: str) -> None:
    """As TWOSTEP_EMAIL_FROM's: any text would otherwise go out as a header no client can answer to, or
    one with a line break, which would add a header of the writer's choosing."""
    with pytest.raises(ValueError, match="use an address, optionally with a name"):
        settings_for_tests(tmp_path, email_reply_to=written)


def test_an_empty_reply_address_is_unset(tmp_path: Path) -> None:
    assert settings_for_tests(tmp_path, email_reply_to=" ").email_reply_to is None
