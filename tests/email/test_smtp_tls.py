"""SMTP over TLS against a real aiosmtpd server: STARTTLS and implicit TLS, with a certificate from a test
authority the client is told to trust (`SSL_CERT_FILE`), as a relay's certificate from a public one."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from twostep.domain.errors import EmailDeliveryError
from twostep.email.smtp import SmtpEmailSender


@dataclass(frozen=True)
class Certificates:
    authority: Path  # what the client trusts
    chain: Path  # the server's certificate, for 127.0.0.1
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("twostep test authority"))
        .issuer_name(_name("twostep test authority"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    found = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    found.authority.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    found.chain.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    found.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return found


class TlsInbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content)
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"twostep", b"s3cret")
    return AuthResult(success=ok, handled=False)  # a refusal answered 535


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_context(certificates: Certificates) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.chain, certificates.key)
    return context


@pytest.fixture
def trusting(certificates: Certificates, monkeypatch: pytest.MonkeyPatch) -> Certificates:
    """The client trusts the test authority (OpenSSL reads SSL_CERT_FILE when a context loads its CAs)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.authority))
    return certificates


def _serve(inbox: TlsInbox, **options: Any) -> Iterator[int]:
    port = _port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_authenticate, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(trusting: Certificates) -> Iterator[tuple[TlsInbox, int]]:
    """Takes nothing before STARTTLS, and no login outside TLS."""
    inbox = TlsInbox()
    context = _server_context(trusting)
    for port in _serve(inbox, tls_context=context, require_starttls=True, auth_require_tls=True):
        yield inbox, port


@pytest.fixture
def implicit_tls_server(trusting: Certificates) -> Iterator[tuple[TlsInbox, int]]:
    inbox = TlsInbox()
    context = _server_context(trusting)
    # aiosmtpd counts only STARTTLS as TLS for AUTH; this whole connection is TLS from its first byte.
    for port in _serve(inbox, ssl_context=context, server_hostname="127.0.0.1", auth_require_tls=False):
        yield inbox, port


def _sender(port: int, security: str, host: str = "127.0.0.1", password: str = "s3cret") -> SmtpEmailSender:
    return SmtpEmailSender(
        host=host,
        port=port,
        sender="twostep <no-reply@example.com>",
        username="twostep",
        password=password,
        security=security,
        timeout=5.0,
    )


def test_starttls_logs_in_and_delivers(starttls_server: tuple[TlsInbox, int]) -> None:
    """The default `starttls` raised ValueError ("check_hostname requires server_hostname") on every
    email, past the sender's handling: nothing went out over a real relay, and a request sending its email
    within (an address proof, a change notice) answered 500."""
    inbox, port = starttls_server
    _sender(port, "starttls").send("anna@example.com", "Your code", "123456 is your code")
    assert len(inbox.messages) == 1
    assert b"Subject: Your code\r\n" in inbox.messages[0]


def test_implicit_tls_logs_in_and_delivers(implicit_tls_server: tuple[TlsInbox, int]) -> None:
    inbox, port = implicit_tls_server
    _sender(port, "tls").send("anna@example.com", "Your code", "123456 is your code")
    assert len(inbox.messages) == 1


def test_readiness_logs_in_over_starttls(starttls_server: tuple[TlsInbox, int]) -> None:
    inbox, port = starttls_server
    answer = _sender(port, "starttls").check_credentials()
    assert (answer.refused, answer.detail) == (False, "SMTP 235")
    assert inbox.messages == []


def test_a_certificate_for_another_name_is_refused(starttls_server: tuple[TlsInbox, int]) -> None:
    """The certificate names 127.0.0.1; reached as `localhost`, the client must not go on."""
    inbox, port = starttls_server
    with pytest.raises(EmailDeliveryError) as refused:
        _sender(port, "starttls", host="localhost").send("anna@example.com", "Your code", "123456")
    assert refused.value.reason == "provider_error"
    assert inbox.messages == []


def test_a_server_without_starttls_gets_nothing_in_the_clear(trusting: Certificates) -> None:
    inbox = TlsInbox()
    for port in _serve(inbox, auth_require_tls=False):
        with pytest.raises(EmailDeliveryError) as refused:
            _sender(port, "starttls").send("anna@example.com", "Your code", "123456")
        assert refused.value.reason == "provider_error"
    assert inbox.messages == []


def test_a_wrong_password_over_starttls_is_an_auth_failure(starttls_server: tuple[TlsInbox, int]) -> None:
    inbox, port = starttls_server
    sender = _sender(port, "starttls", password="wrong")
    with pytest.raises(EmailDeliveryError) as refused:
        sender.send("anna@example.com", "Your code", "123456")
    assert refused.value.reason == "auth"
    answer = sender.check_credentials()
    assert (answer.refused, answer.detail) == (True, "SMTP 535")
    assert inbox.messages == []
