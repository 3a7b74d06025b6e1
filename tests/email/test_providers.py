"""Email providers against real servers: a local aiosmtpd SMTP server, and SES on the moto server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import settings_for_tests
from twostep.domain.errors import EmailDeliveryError
from twostep.email import REGISTRY, build_email_sender
from twostep.email.ses import SesEmailSender
from twostep.email.smtp import SmtpEmailSender
from twostep.sms import SenderDeps
from twostep.storage.memory import MemoryStorage


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append({"to": envelope.rcpt_tos, "message": message_from_bytes(envelope.content)})
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.endswith("@refused.example.com"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"twostep", b"s3cret")
    return AuthResult(success=ok)


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,  # a loopback test server; production uses starttls or tls
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _smtp(port: int, **kw: Any) -> SmtpEmailSender:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "twostep <no-reply@example.com>",
        "security": "none",
    }
    return SmtpEmailSender(**(values | kw))


def test_smtp_delivers_with_login(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    message_id = _smtp(port, username="twostep", password="s3cret").send(
        "anna@example.com", "Your code", "123456 is your code"
    )
    assert message_id and len(inbox.messages) == 1
    received = inbox.messages[0]
    assert received["to"] == ["anna@example.com"]
    assert received["message"]["Subject"] == "Your code"
    assert "123456 is your code" in received["message"].get_payload(decode=True).decode()


def test_smtp_failures_are_delivery_errors(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    with pytest.raises(EmailDeliveryError) as refused:
        _smtp(port).send("x@refused.example.com", "s", "123456")
    assert refused.value.reason == "rejected_address"
    with pytest.raises(EmailDeliveryError) as down:
        _smtp(_port()).send("anna@example.com", "s", "123456")  # nobody listens there
    assert down.value.reason == "provider_error"
    assert inbox.messages == []


def test_smtp_from_settings_needs_a_host(tmp_path: Path) -> None:
    from twostep.domain.clock import FixedClock
    from twostep.domain.errors import ConfigurationError

    deps = SenderDeps(outbox=MemoryStorage(), clock=FixedClock())
    with pytest.raises(ConfigurationError, match="TWOSTEP_SMTP_HOST"):
        build_email_sender(settings_for_tests(tmp_path, email_provider="smtp"), deps)
    assert set(REGISTRY) == {"console", "smtp", "ses"}


def test_ses_on_moto(moto_server: str, aws_test_environment: dict[str, str]) -> None:
    client = boto3.client("sesv2", endpoint_url=moto_server, region_name="us-east-1")
    client.create_email_identity(EmailIdentity="no-reply@example.com")
    message_id = SesEmailSender(client, "no-reply@example.com").send(
        "anna@example.com", "Your code", "123456"
    )
    assert message_id
    with pytest.raises(EmailDeliveryError) as rejected:  # an unverified sender is refused by SES
        SesEmailSender(client, "someone@unverified.example.org").send("anna@example.com", "s", "123456")
    assert rejected.value.reason in ("rejected_address", "provider_error")
