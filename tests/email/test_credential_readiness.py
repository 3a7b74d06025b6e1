"""Readiness asks the email provider whether it still takes our credentials, by a read that sends nothing.

Before, `/healthz/ready` asked the SMS providers only: with a wrong SES key or SMTP password every emailed
code (email proofs, resets by email, address claims, notices) failed while the probes stayed green. Now
it answers 503 `email_credentials_refused` when the email provider refuses them (SMTP 535 to AUTH; SES's
wrong or expired keys); a connection error, a timeout, a 5xx or a policy without the read keeps it ready.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient

from tests.conftest import settings_for_tests
from tests.email.smtp_server import smtp_server
from tests.live import ServerProcess, assert_not_ready, free_port
from tests.sms.provider_server import ProviderServer, Reply
from tests.sms.test_sns import sns_error
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock

USERNAME, PASSWORD = "twostep", "right-smtp-password-1"
WRONG_PASSWORD = "wrong-smtp-password-2"
TEMPORARY_FAILURE = "454 4.7.0 Temporary authentication failure"


class MailServer:
    """A local SMTP server that checks AUTH against one login; records each connection's login and every
    MAIL FROM."""

    def __init__(self) -> None:
        self.logins: list[tuple[str, str]] = []
        self.mail_from: list[str] = []
        self.temporary_failure = False

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.mail_from.append(address)
        envelope.mail_from = address
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        if not getattr(session, "login_counted", False):  # smtplib tries PLAIN, then LOGIN on a refusal
            session.login_counted = True
            self.logins.append((data.login.decode(), data.password.decode()))
        if self.temporary_failure:
            return AuthResult(success=False, handled=False, message=TEMPORARY_FAILURE)
        right = (data.login, data.password) == (USERNAME.encode(), PASSWORD.encode())
        return AuthResult(success=right, handled=False)  # a refusal answered 535


@pytest.fixture
def mail_server() -> Iterator[tuple[MailServer, int]]:
    mail = MailServer()
    with smtp_server(mail, authenticator=mail.authenticate, auth_require_tls=False) as port:
        yield mail, port


@pytest.fixture
def containers(tmp_path: Path) -> Iterator[Callable[..., Container]]:
    built: list[Container] = []

    def make(clock: FixedClock | None = None, **overrides: Any) -> Container:
        container = build(settings_for_tests(tmp_path, **overrides), clock=clock or FixedClock())
        built.append(container)
        return container

    yield make
    for container in built:
        container.close()


def smtp(port: int, password: str = PASSWORD, **overrides: Any) -> dict[str, Any]:
    return {
        "email_provider": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_username": USERNAME,
        "smtp_password": password,
        **overrides,
    }


def ready(container: Container) -> httpx.Response:
    with TestClient(create_app(container)) as client:
        return client.get("/healthz/ready")


def test_a_wrong_smtp_password_makes_readiness_fail_without_the_password(
    mail_server: tuple[MailServer, int],
    containers: Callable[..., Container],
    caplog: pytest.LogCaptureFixture,
) -> None:
    mail, port = mail_server
    with caplog.at_level(logging.DEBUG):
        answer = ready(containers(**smtp(port, WRONG_PASSWORD)))

    assert answer.status_code == 503, answer.text
    assert (answer.json()["code"], answer.json()["cause"]) == ("email_credentials_refused", "smtp: SMTP 535")
    assert mail.logins == [(USERNAME, WRONG_PASSWORD)]
    assert mail.mail_from == []  # logged in and left: nothing sent
    assert WRONG_PASSWORD not in answer.text and WRONG_PASSWORD not in caplog.text


def test_the_right_smtp_password_is_ready_and_sends_nothing(
    mail_server: tuple[MailServer, int], containers: Callable[..., Container]
) -> None:
    mail, port = mail_server
    assert ready(containers(**smtp(port))).status_code == 200
    assert mail.logins == [(USERNAME, PASSWORD)]
    assert mail.mail_from == []


def test_a_temporary_smtp_auth_failure_keeps_readiness(
    mail_server: tuple[MailServer, int], containers: Callable[..., Container]
) -> None:
    """454: the server's trouble (its password store is down), not a wrong password."""
    mail, port = mail_server
    mail.temporary_failure = True
    assert ready(containers(**smtp(port, WRONG_PASSWORD))).status_code == 200
    assert len(mail.logins) == 1


def test_an_smtp_server_nobody_answers_keeps_readiness(containers: Callable[..., Container]) -> None:
    assert ready(containers(**smtp(free_port(), WRONG_PASSWORD))).status_code == 200


@pytest.fixture
def silent_smtp_server() -> Iterator[int]:
    """Takes the connection and never greets: the check times out."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stopped = threading.Event()

    def hold() -> None:
        connection, _ = listener.accept()
        accepted.append(connection)
        stopped.wait()

    threading.Thread(target=hold, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stopped.set()
        for connection in accepted:
            connection.close()
        listener.close()


def test_an_smtp_server_that_never_answers_keeps_readiness_and_holds_the_probe_briefly(
    silent_smtp_server: int, containers: Callable[..., Container]
) -> None:
    started = time.monotonic()
    assert ready(containers(**smtp(silent_smtp_server, WRONG_PASSWORD))).status_code == 200
    assert time.monotonic() - started < 5  # the probe waits for the check at most 2 s


def test_an_smtp_provider_without_a_login_is_not_asked(
    mail_server: tuple[MailServer, int], containers: Callable[..., Container]
) -> None:
    mail, port = mail_server
    overrides = smtp(port) | {"smtp_username": None, "smtp_password": None}
    assert ready(containers(**overrides)).status_code == 200
    assert mail.logins == []


def test_the_email_verdict_is_kept_a_minute_when_passed_and_shorter_when_refused(
    mail_server: tuple[MailServer, int], containers: Callable[..., Container]
) -> None:
    mail, port = mail_server
    clock = FixedClock()
    container = containers(clock, **smtp(port))
    for _ in range(5):
        assert ready(container).status_code == 200
    assert len(mail.logins) == 1
    container.email_sender._password = WRONG_PASSWORD  # type: ignore[attr-defined]  # rotated at the server
    clock.advance(61)
    assert ready(container).status_code == 503
    assert ready(container).status_code == 503
    assert len(mail.logins) == 2
    container.email_sender._password = PASSWORD  # type: ignore[attr-defined]
    clock.advance(11)
    assert ready(container).status_code == 200
    assert len(mail.logins) == 3


def test_the_console_email_provider_always_passes(containers: Callable[..., Container]) -> None:
    container = containers()
    assert container.settings.email_provider == "console"
    assert ready(container).status_code == 200


def test_sms_and_email_each_fail_readiness_on_their_own_and_sms_is_named_first(
    mail_server: tuple[MailServer, int],
    containers: Callable[..., Container],
    start_server: Callable[[], ProviderServer],
) -> None:
    """Each kind fails its own flows: texts when every SMS provider refuses, emailed codes when the email
    provider does. SMS (sign-in itself) is named when both refuse."""
    mail, port = mail_server
    twilio = start_server()
    twilio.always(Reply.json(401, {"code": 20003, "message": "Authenticate", "status": 401}))
    refusing_sms = {
        "sms_providers": ["twilio"],
        "twilio_base_url": twilio.url,
        "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
        "twilio_auth_token": "rotated-token-0123",
        "twilio_from": "+15005550006",
    }

    both = ready(containers(**refusing_sms, **smtp(port, WRONG_PASSWORD)))
    assert (both.status_code, both.json()["code"]) == (503, "sms_credentials_refused")
    assert len(mail.logins) == 1  # asked in the same check all the same

    sms_only = ready(containers(**refusing_sms, **smtp(port)))
    assert (sms_only.status_code, sms_only.json()["code"]) == (503, "sms_credentials_refused")

    email_only = ready(containers(**smtp(port, WRONG_PASSWORD)))  # the console SMS provider
    assert (email_only.status_code, email_only.json()["cause"]) == (503, "smtp: SMTP 535")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SES", "AWS_ENDPOINT_URL_SESV2"):
        monkeypatch.delenv(name, raising=False)
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def ses_ready(tmp_path: Path, session: boto3.Session) -> httpx.Response:
    settings = settings_for_tests(tmp_path, email_provider="ses", aws_region="us-east-1")
    container = build(settings, clock=FixedClock(), boto_session=session)
    try:
        return ready(container)
    finally:
        container.close()


@pytest.mark.parametrize("code", ["InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"])
def test_wrong_ses_keys_fail_readiness(
    code: str,
    aws_answering: Callable[[Reply], ProviderServer],
    aws: boto3.Session,
    tmp_path: Path,
) -> None:
    server = aws_answering(sns_error(403, code))

    answer = ses_ready(tmp_path, aws)

    assert answer.status_code == 503, answer.text
    assert (answer.json()["code"], answer.json()["cause"]) == (
        "email_credentials_refused",
        f"ses: HTTP 403 {code}",
    )
    (request,) = server.requests
    assert b"Action=GetSendQuota" in request.body  # a read: nothing sent
    assert "testing" not in answer.text


@pytest.mark.parametrize(
    "reply",
    [sns_error(403, "AccessDenied"), sns_error(500, "InternalFailure", "Receiver"), Reply.hang()],
    ids=["policy-without-the-read", "500", "hang"],
)
def test_ses_failures_that_are_not_the_keys_keep_readiness(
    reply: Reply,
    aws_answering: Callable[[Reply], ProviderServer],
    aws: boto3.Session,
    tmp_path: Path,
) -> None:
    """AccessDenied: real keys whose IAM policy allows sending only (ses:SendEmail, ses:SendRawEmail)."""
    aws_answering(reply)
    started = time.monotonic()
    assert ses_ready(tmp_path, aws).status_code == 200
    assert time.monotonic() - started < 10


def test_ses_on_moto_is_ready(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, aws: boto3.Session, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    settings = settings_for_tests(tmp_path, email_provider="ses", aws_region="us-east-1")
    container = build(settings, clock=FixedClock(), boto_session=aws)
    try:
        answer = container.email_sender.check_credentials()  # type: ignore[attr-defined]
        assert (answer.refused, answer.detail) == (False, "HTTP 200")
        assert ready(container).status_code == 200
    finally:
        container.close()


def test_a_live_server_with_a_wrong_smtp_password_is_not_ready(
    tmp_path: Path, mail_server: tuple[MailServer, int]
) -> None:
    """Before, `twostep serve` whose SMTP password was wrong stayed ready and failed every emailed code."""
    mail, port = mail_server
    with ServerProcess(
        tmp_path,
        TWOSTEP_EMAIL_PROVIDER="smtp",
        TWOSTEP_SMTP_HOST="127.0.0.1",
        TWOSTEP_SMTP_PORT=str(port),
        TWOSTEP_SMTP_SECURITY="none",
        TWOSTEP_SMTP_USERNAME=USERNAME,
        TWOSTEP_SMTP_PASSWORD=WRONG_PASSWORD,
    ) as server:
        failed = assert_not_ready(server, "email_credentials_refused", "smtp: SMTP 535")
        log = server.log_tail()
    assert WRONG_PASSWORD not in failed.text and WRONG_PASSWORD not in log
    assert "smtp: SMTP 535" in log
    assert mail.logins == [(USERNAME, WRONG_PASSWORD)] and mail.mail_from == []
