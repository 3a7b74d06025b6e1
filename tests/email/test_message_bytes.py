"""The bytes of twostep's emails in Japanese, Arabic and Russian, as a real SMTP server (aiosmtpd) takes them
and as the SES request to the moto server carries them: the headers a mail server, a spam filter and a mail
client look at, and the text as the reader should see it."""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any, cast

import boto3
import pytest

from tests.email.smtp_server import Inbox, smtp_server
from twostep.email.ses import SesEmailSender
from twostep.email.smtp import SmtpEmailSender
from twostep.services.notice_origin import NoticeOrigin
from twostep.services.texts import CodeTexts, Letter
from twostep.texts import bundled_catalogue

SENDER = "株式会社テスト <no-reply@example.com>"
ENCODED_WORD = re.compile(rb"=\?utf-8\?([bq])\?([^?]*)\?=", re.IGNORECASE)
ONCE = ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Auto-Submitted")


def _letters() -> list[Letter]:
    texts = CodeTexts(bundled_catalogue(), org="twostep", default_locale="en")
    origin = NoticeOrigin(datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "Firefox (Linux)", "203.0.113.0/24")
    letters = []
    for language in ("ja", "ar", "ru"):
        letters.append(texts.email_code(language, code="123456", ttl_seconds=600, reset=True))
        letters.append(texts.notice("email_released", language, destination="n**@example.com", origin=origin))
    # Whatever the text, no line may pass RFC 5322's 998 characters.
    letters.append(Letter("long", "x" * 3000))
    letters.append(Letter("long", "مرحبا " * 600))
    return letters


LETTERS = _letters()


def _decoded_words(raw_subject: bytes) -> list[str]:
    """Each encoded word of a raw header, decoded on its own (raises on a character split between two)."""
    words = []
    for match in ENCODED_WORD.finditer(raw_subject):
        assert len(match.group(0)) <= 75  # RFC 2047's longest encoded word
        kind, data = match.groups()
        octets = base64.b64decode(data) if kind.lower() == b"b" else binascii.a2b_qp(data, header=True)
        words.append(octets.decode("utf-8"))
    return words


def assert_transactional(raw: bytes, letter: Letter, to: str) -> EmailMessage:
    """The headers and body of one sent email, from its bytes."""
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    raw.decode("ascii")  # 7-bit: RFC 2047 words in the headers, base64 or quoted-printable in the body
    head = raw.split(b"\r\n\r\n", 1)[0]
    raw_subject = re.search(rb"^Subject:(.*(?:\r\n[ \t].*)*)", head, re.MULTILINE)
    assert raw_subject is not None
    _decoded_words(raw_subject.group(1))
    message = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
    for name in ONCE:
        assert len(message.get_all(name) or []) == 1, name
    assert message["Subject"] == letter.subject
    assert message.get_content().replace("\r\n", "\n").rstrip("\n") == letter.body
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message["Content-Transfer-Encoding"] in ("7bit", "base64", "quoted-printable")
    assert message["MIME-Version"] == "1.0"
    assert message["To"] == to
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("株式会社テスト", "no-reply@example.com")
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    return message


@pytest.fixture
def raw_inbox() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        yield inbox, port


def test_smtp_emails_carry_the_headers_of_transactional_mail(raw_inbox: tuple[Inbox, int]) -> None:
    """Date was missing (RFC 5322 requires it; filters score its lack), and so was Auto-Submitted
    (RFC 3834), which keeps vacation replies from answering a code."""
    inbox, port = raw_inbox
    sender = SmtpEmailSender(host="127.0.0.1", port=port, sender=SENDER, security="none")
    for letter in LETTERS:
        sender.send("anna@example.com", letter.subject, letter.body)
    assert len(inbox.messages) == len(LETTERS)
    ids = set()
    for raw, letter in zip(inbox.messages, LETTERS, strict=True):
        message = assert_transactional(raw, letter, "anna@example.com")
        assert re.fullmatch(r"<[^<>@\s]+@example\.com>", message["Message-ID"])
        ids.add(message["Message-ID"])
    assert len(ids) == len(LETTERS)


def test_ses_sends_the_same_message_raw(moto_server: str, aws_test_environment: dict[str, str]) -> None:
    """SES's `Simple` content went without a charset (SES then takes the text as 7-bit ASCII), with the
    display name unencoded in `FromEmailAddress`, and without Date or Auto-Submitted. It is now the SMTP
    provider's message, as raw data."""
    client = boto3.client("sesv2", endpoint_url=moto_server, region_name="us-east-1")
    quota = boto3.client("ses", endpoint_url=moto_server, region_name="us-east-1")
    client.create_email_identity(EmailIdentity="no-reply@example.com")
    requests: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-send.sesv2.SendEmail", lambda request, **_: requests.append(json.loads(request.body))
    )
    sender = SesEmailSender(client, SENDER, quota_client=quota)
    for letter in LETTERS:
        assert sender.send("anna@example.com", letter.subject, letter.body)
    assert len(requests) == len(LETTERS)
    for request, letter in zip(requests, LETTERS, strict=True):
        assert set(request) == {"FromEmailAddress", "Destination", "Content"}
        assert request["FromEmailAddress"] == "no-reply@example.com"
        assert request["Destination"] == {"ToAddresses": ["anna@example.com"]}
        assert set(request["Content"]) == {"Raw"}
        assert_transactional(base64.b64decode(request["Content"]["Raw"]["Data"]), letter, "anna@example.com")


def _direction(line: str) -> str | None:
    """A paragraph's direction by Unicode's rule (UAX #9, P2 and P3): that of its first strong letter."""
    for character in line:
        kind = unicodedata.bidirectional(character)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return None


def _arabic_and_japanese() -> list[tuple[str, Letter]]:
    texts = CodeTexts(bundled_catalogue(), org="twostep", default_locale="en")
    origin = NoticeOrigin(datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "Firefox (Linux)", "203.0.113.0/24")
    kinds = ("phone_changed", "email_changed", "password_changed", "password_reset", "sign_in_changed")
    letters = []
    for language in ("ar", "ja"):
        letters.append((language, texts.email_code(language, code="123456", ttl_seconds=600)))
        letters.extend(
            (language, texts.notice(kind, language, destination="n**@example.com", origin=origin))
            for kind in (*kinds, "email_released")
        )
    return letters


def test_arabic_emails_read_right_to_left(raw_inbox: tuple[Inbox, int]) -> None:
    """A notice in Arabic starts with the org name ("twostep: ..."): a mail client, giving each line the
    direction of its first letter, laid the subject and the first paragraph out left to right, the Arabic
    sentences in the wrong order. Each line of an Arabic email now starts with a right-to-left mark; other
    languages get none."""
    inbox, port = raw_inbox
    letters = _arabic_and_japanese()
    sender = SmtpEmailSender(host="127.0.0.1", port=port, sender=SENDER, security="none")
    for _, letter in letters:
        sender.send("anna@example.com", letter.subject, letter.body)
    for raw, (language, letter) in zip(inbox.messages, letters, strict=True):
        message = assert_transactional(raw, letter, "anna@example.com")
        lines = [message["Subject"], *message.get_content().splitlines()]
        written = [line for line in lines if line.strip()]
        if language == "ar":
            assert {_direction(line) for line in written} == {"rtl"}
        else:
            assert not any("\u200f" in line for line in written)


def test_a_sender_domain_in_unicode_goes_out_in_its_ascii_form(
    moto_server: str, aws_test_environment: dict[str, str]
) -> None:
    """`TWOSTEP_EMAIL_FROM=Shop <no-reply@münchen.de>` needed SMTPUTF8, which a relay without it refused
    (every email `provider_error`) and SES never offers. The domain now goes out as IDNA, to both."""
    inbox = Inbox()
    with smtp_server(inbox, enable_SMTPUTF8=False) as port:
        SmtpEmailSender(
            host="127.0.0.1", port=port, sender="Shop <no-reply@münchen.de>", security="none"
        ).send("anna@example.com", "Your code", "123456")
    client = boto3.client("sesv2", endpoint_url=moto_server, region_name="us-east-1")
    client.create_email_identity(EmailIdentity="xn--mnchen-3ya.de")
    requests: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-send.sesv2.SendEmail", lambda request, **_: requests.append(json.loads(request.body))
    )
    quota = boto3.client("ses", endpoint_url=moto_server, region_name="us-east-1")
    SesEmailSender(client, "Shop <no-reply@münchen.de>", quota_client=quota).send(
        "anna@example.com", "s", "1"
    )
    assert requests[0]["FromEmailAddress"] == "no-reply@xn--mnchen-3ya.de"
    for raw in (inbox.messages[0], base64.b64decode(requests[0]["Content"]["Raw"]["Data"])):
        message = message_from_bytes(raw, policy=policy.default)
        assert message["From"] == "Shop <no-reply@xn--mnchen-3ya.de>"
        assert message["Message-ID"].endswith("@xn--mnchen-3ya.de>")
