"""Email providers against real servers: a local aiosmtpd SMTP server, and SES on the moto server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.conftest import settings_for_tests
from tests.email.smtp_server import PASSWORD, USERNAME, Inbox, authenticate, smtp_server
from tests.live import free_port
from tests.sms.provider_server import ProviderServer, Reply
from twostep.domain.errors import EmailDeliveryError
from twostep.email import REGISTRY, build_email_sender
from twostep.email.ses import SesEmailSender
from twostep.email.smtp import SmtpEmailSender
from twostep.sms import SenderDeps
from twostep.storage.memory import MemoryStorage


class RecipientRefusingInbox(Inbox):
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.endswith("@refused.example.com"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def smtp_server_with_login() -> Iterator[tuple[Inbox, int]]:
    inbox = RecipientRefusingInbox()
    # a loopback test server; production uses starttls or tls
    with smtp_server(inbox, authenticator=authenticate, auth_require_tls=False) as port:
        yield inbox, port


def _smtp(port: int, **kw: Any) -> SmtpEmailSender:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "twostep <no-reply@example.com>",
        "security": "none",
    }
    return SmtpEmailSender(**(values | kw))


def test_smtp_delivers_with_login(smtp_server_with_login: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server_with_login
    message_id = _smtp(port, username=USERNAME, password=PASSWORD).send(
        "anna@example.com", "Your code", "123456 is your code"
    )
    assert message_id and len(inbox.messages) == 1
    assert inbox.recipients == [["anna@example.com"]]
    received = message_from_bytes(inbox.messages[0])
    assert received["Subject"] == "Your code"
    assert "123456 is your code" in received.get_payload(decode=True).decode()


def test_smtp_failures_are_delivery_errors(smtp_server_with_login: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server_with_login
    with pytest.raises(EmailDeliveryError) as refused:
        _smtp(port).send("x@refused.example.com", "s", "123456")
    assert refused.value.reason == "rejected_address"
    with pytest.raises(EmailDeliveryError) as down:
        _smtp(free_port()).send("anna@example.com", "s", "123456")  # nobody listens there
    assert down.value.reason == "provider_error"
    assert inbox.messages == []


@pytest.fixture
def trickling_smtp_server() -> Iterator[int]:
    """A server that sends a greeting line's first 60 bytes a byte every 0.2 s (12 s), then nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    stopped = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            greeting = b"220 " + b"x" * 56
            for index in range(len(greeting)):
                if stopped.wait(0.2):
                    return
                try:
                    connection.sendall(greeting[index : index + 1])
                except OSError:
                    return  # the client hung up
            stopped.wait()

    threading.Thread(target=trickle, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stopped.set()
        listener.close()


def test_a_trickling_smtp_server_is_cut_off_at_the_deadline(trickling_smtp_server: int) -> None:
    """smtplib's timeout bounds each socket read, so a server sending its greeting a byte every 0.2 s
    (within the 0.5 s timeout) held the email, and the request that sent it, for as long as it went
    on. The exchange now ends after three timeouts as `timeout`."""
    started = time.monotonic()
    with pytest.raises(EmailDeliveryError) as slow:
        _smtp(trickling_smtp_server, timeout=0.5).send("anna@example.com", "s", "123456")
    assert slow.value.reason == "timeout"
    assert time.monotonic() - started < 3


def test_smtp_exchange_within_the_deadline_is_not_cut(smtp_server_with_login: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server_with_login
    sender = _smtp(port, timeout=0.5)
    for _ in range(3):  # the deadline of one exchange never reaches the next
        sender.send("anna@example.com", "Your code", "123456 is your code")
        time.sleep(0.6)
    assert len(inbox.messages) == 3


def test_smtp_from_settings_needs_a_host(tmp_path: Path) -> None:
    from twostep.domain.clock import FixedClock
    from twostep.domain.errors import ConfigurationError

    deps = SenderDeps(outbox=MemoryStorage(), clock=FixedClock())
    with pytest.raises(ConfigurationError, match="TWOSTEP_SMTP_HOST"):
        build_email_sender(settings_for_tests(tmp_path, email_provider="smtp"), deps)
    assert set(REGISTRY) == {"console", "smtp", "ses"}


def test_ses_on_moto(moto_server: str, aws_test_environment: dict[str, str]) -> None:
    client = boto3.client("sesv2", endpoint_url=moto_server, region_name="us-east-1")
    quota = boto3.client("ses", endpoint_url=moto_server, region_name="us-east-1")
    client.create_email_identity(EmailIdentity="no-reply@example.com")
    message_id = SesEmailSender(client, "no-reply@example.com", quota_client=quota).send(
        "anna@example.com", "Your code", "123456"
    )
    assert message_id
    with pytest.raises(EmailDeliveryError) as rejected:  # an unverified sender is refused by SES
        SesEmailSender(client, "someone@unverified.example.org", quota_client=quota).send(
            "anna@example.com", "s", "123456"
        )
    assert rejected.value.reason in ("rejected_address", "provider_error")


def test_an_ses_answer_botocore_cannot_read_is_a_delivery_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 200 whose JSON body is not an object made botocore's parser raise AttributeError, which went past
    the SES sender: an emailed code answered 500, and so did a change whose notice email it was, after
    the change was stored. It is now a delivery error (`provider_error`)."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SESV2"):
        monkeypatch.delenv(name, raising=False)
    server = ProviderServer().start()
    try:
        server.always(Reply(200, b"[1]", "application/json"))
        client = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client("sesv2", endpoint_url=server.url)
        with pytest.raises(EmailDeliveryError) as unreadable:
            SesEmailSender(client, "no-reply@example.com", quota_client=client).send(
                "anna@example.com", "s", "123456"
            )
    finally:
        server.stop()
    assert unreadable.value.reason == "provider_error"
    assert len(server.requests) == 1


class RefusingInbox:
    """Takes the envelope, then answers the message's end with `reply`."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self.reply


@pytest.mark.parametrize(
    ("reply", "cause"), [("451 4.3.0 try later", "SMTP 451"), ("554 5.7.1 spam", "SMTP 554")]
)
def test_an_smtp_server_refusing_the_message_is_named_in_the_log(
    reply: str, cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 451 or 554 to DATA answered 503 with the cause `provider_error` in the API's log line, whether the
    relay said try later or refused the message for good. Both logs now name the reply code, and neither
    the server's text nor the address."""
    from twostep.api.causes import describe_cause

    with (
        smtp_server(RefusingInbox(reply)) as port,
        caplog.at_level("WARNING", logger="twostep.email.smtp"),
        pytest.raises(EmailDeliveryError) as failed,
    ):
        _smtp(port).send("anna@example.com", "Your code", "123456 is your code")
    assert failed.value.reason == "provider_error"
    assert describe_cause(failed.value) == cause
    (record,) = [r for r in caplog.records if r.name == "twostep.email.smtp"]
    assert (record.error, record.reply) == ("SMTPDataError", int(cause.split()[1]))  # type: ignore[attr-defined]
    assert "anna" not in caplog.text and "123456" not in caplog.text


class ClosingSmtp(SMTP):
    """Answers QUIT with 421 (RFC 5321: the service is closing the channel) and hangs up."""

    async def smtp_QUIT(self, arg: str) -> None:
        await self.push("421 4.3.2 shutting down")
        self.transport.close()


class ClosingController(Controller):
    def factory(self) -> SMTP:
        return ClosingSmtp(self.handler, **self.SMTP_kwargs)


def test_a_message_taken_is_sent_whatever_the_server_answers_to_quit() -> None:
    """The server took the message (250), then answered QUIT 421: the sender raised `provider_error`, so an
    emailed code the user then read was never stored (the request answered 503) and a notice sent was
    audited as failed."""
    inbox = Inbox()
    with smtp_server(inbox, ClosingController) as port:
        message_id = _smtp(port).send("anna@example.com", "Your code", "123456 is your code")
    assert message_id.startswith("<") and len(inbox.messages) == 1


class HangingUpInbox:
    """Reads the whole message, then drops the connection instead of answering it."""

    def __init__(self) -> None:
        self.dropped = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.dropped += 1
        server.transport.abort()
        return "250 never sent"


def test_a_connection_dropped_before_the_message_is_answered_fails_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No answer to the message: not known to be taken, so a delivery error (a 503, the code not stored),
    logged by type without the address or the code."""
    inbox = HangingUpInbox()
    with (
        smtp_server(inbox) as port,
        caplog.at_level("WARNING", logger="twostep.email.smtp"),
        pytest.raises(EmailDeliveryError) as failed,
    ):
        _smtp(port).send("anna@example.com", "Your code", "123456 is your code")
    assert (failed.value.reason, inbox.dropped) == ("provider_error", 1)
    (record,) = [r for r in caplog.records if r.name == "twostep.email.smtp"]
    assert record.error == "SMTPServerDisconnected"  # type: ignore[attr-defined]
    assert "anna" not in caplog.text and "123456" not in caplog.text


def test_an_ses_that_does_not_answer_in_time_is_a_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """SES slower than `TWOSTEP_EMAIL_TIMEOUT_SECONDS` failed as `provider_error`, the 503's logged cause, and
    nothing in the log said it had timed out (botocore's error went unlogged). It is now a `timeout`, as
    over SMTP, and the sender's warning names the error."""
    from botocore.config import Config

    from twostep.api.causes import describe_cause

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SESV2"):
        monkeypatch.delenv(name, raising=False)
    server = ProviderServer().start()
    try:
        server.always(Reply.hang())
        config = Config(read_timeout=0.3, connect_timeout=0.3, retries={"total_max_attempts": 1})
        client = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client("sesv2", endpoint_url=server.url, config=config)
        with (
            caplog.at_level("WARNING", logger="twostep.email.ses"),
            pytest.raises(EmailDeliveryError) as slow,
        ):
            SesEmailSender(client, "no-reply@example.com", quota_client=client).send(
                "anna@example.com", "s", "123456"
            )
    finally:
        server.stop()
    assert (slow.value.reason, describe_cause(slow.value)) == ("timeout", "timeout")
    (record,) = [r for r in caplog.records if r.name == "twostep.email.ses"]
    assert record.error == "ReadTimeoutError"  # type: ignore[attr-defined]
    assert "anna" not in caplog.text and "123456" not in caplog.text


SES_INTERNAL_FAILURE = (
    b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>try again</Message>"
    b"</Error><RequestId>1</RequestId></ErrorResponse>"
)


def test_the_ses_readiness_check_asks_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check's client was documented as not retried, but botocore's `max_attempts: 1` counts retries:
    an SES answering 500 was asked twice, and readiness waited for both."""
    from botocore.config import Config

    from twostep.email.ses import CHECK_CONFIG

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SES"):
        monkeypatch.delenv(name, raising=False)
    server = ProviderServer().start()
    try:
        server.always(Reply(500, SES_INTERNAL_FAILURE, "text/xml"))
        quota = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client("ses", endpoint_url=server.url, config=Config(**CHECK_CONFIG))
        answer = SesEmailSender(quota, "no-reply@example.com", quota_client=quota).check_credentials()
    finally:
        server.stop()
    assert not answer.refused
    assert len(server.requests) == 1
