"""SMTP over TLS against a real aiosmtpd server: STARTTLS and implicit TLS, with a certificate from a test
authority the client is told to trust (`SSL_CERT_FILE`), as a relay's certificate from a public one."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from tests.certificate_authority import CertificateAuthority, ServerCertificate
from tests.email.smtp_server import PASSWORD, USERNAME, Inbox, authenticate, smtp_server
from twostep.domain.errors import EmailDeliveryError
from twostep.email.smtp import SmtpEmailSender


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def certificate(authority: CertificateAuthority) -> ServerCertificate:
    return authority.issue("127.0.0.1")


def _server_context(certificate: ServerCertificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.certificate, certificate.key)
    return context


@pytest.fixture
def trusting(
    authority: CertificateAuthority, certificate: ServerCertificate, monkeypatch: pytest.MonkeyPatch
) -> ServerCertificate:
    """The client trusts the test authority (OpenSSL reads SSL_CERT_FILE when a context loads its CAs)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.path))
    return certificate


@pytest.fixture
def starttls_server(trusting: ServerCertificate) -> Iterator[tuple[Inbox, int]]:
    """Takes nothing before STARTTLS, and no login outside TLS."""
    inbox = Inbox()
    context = _server_context(trusting)
    options = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    with smtp_server(inbox, authenticator=authenticate, **options) as port:
        yield inbox, port


@pytest.fixture
def implicit_tls_server(trusting: ServerCertificate) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    context = _server_context(trusting)
    # aiosmtpd counts only STARTTLS as TLS for AUTH; this whole connection is TLS from its first byte.
    options = {"ssl_context": context, "server_hostname": "127.0.0.1", "auth_require_tls": False}
    with smtp_server(inbox, authenticator=authenticate, **options) as port:
        yield inbox, port


def _sender(port: int, security: str, host: str = "127.0.0.1", password: str = PASSWORD) -> SmtpEmailSender:
    return SmtpEmailSender(
        host=host,
        port=port,
        sender="twostep <no-reply@example.com>",
        username=USERNAME,
        password=password,
        security=security,
        timeout=5.0,
    )


def test_starttls_logs_in_and_delivers(starttls_server: tuple[Inbox, int]) -> None:
    """The default `starttls` raised ValueError ("check_hostname requires server_hostname") on every
    email, past the sender's handling: nothing went out over a real relay, and a request sending its email
    within (an address proof, a change notice) answered 500."""
    inbox, port = starttls_server
    _sender(port, "starttls").send("anna@example.com", "Your code", "123456 is your code")
    assert len(inbox.messages) == 1
    assert b"Subject: Your code\r\n" in inbox.messages[0]


def test_implicit_tls_logs_in_and_delivers(implicit_tls_server: tuple[Inbox, int]) -> None:
    inbox, port = implicit_tls_server
    _sender(port, "tls").send("anna@example.com", "Your code", "123456 is your code")
    assert len(inbox.messages) == 1


def test_readiness_logs_in_over_starttls(starttls_server: tuple[Inbox, int]) -> None:
    inbox, port = starttls_server
    answer = _sender(port, "starttls").check_credentials()
    assert (answer.refused, answer.detail) == (False, "SMTP 235")
    assert inbox.messages == []


def test_a_certificate_for_another_name_is_refused(starttls_server: tuple[Inbox, int]) -> None:
    """The certificate names 127.0.0.1; reached as `localhost`, the client must not go on."""
    inbox, port = starttls_server
    with pytest.raises(EmailDeliveryError) as refused:
        _sender(port, "starttls", host="localhost").send("anna@example.com", "Your code", "123456")
    assert refused.value.reason == "provider_error"
    assert inbox.messages == []


def test_a_server_without_starttls_gets_nothing_in_the_clear(trusting: ServerCertificate) -> None:
    inbox = Inbox()
    with smtp_server(inbox, authenticator=authenticate, auth_require_tls=False) as port:
        with pytest.raises(EmailDeliveryError) as refused:
            _sender(port, "starttls").send("anna@example.com", "Your code", "123456")
        assert refused.value.reason == "provider_error"
    assert inbox.messages == []


def test_a_wrong_password_over_starttls_is_an_auth_failure(starttls_server: tuple[Inbox, int]) -> None:
    inbox, port = starttls_server
    sender = _sender(port, "starttls", password="wrong")
    with pytest.raises(EmailDeliveryError) as refused:
        sender.send("anna@example.com", "Your code", "123456")
    assert refused.value.reason == "auth"
    answer = sender.check_credentials()
    assert (answer.refused, answer.detail) == (True, "SMTP 535")
    assert inbox.messages == []
