"""Email over SMTP with the standard library: STARTTLS or implicit TLS, optional login, a timeout.

Every failure becomes `EmailDeliveryError` with a stable reason; neither the body nor the password is
logged or put into an error.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage

from twostep.domain.clock import Clock, SystemClock
from twostep.domain.errors import ConfigurationError, EmailDeliveryError
from twostep.domain.provider_checks import CredentialAnswer
from twostep.email.message import compose
from twostep.settings import Settings
from twostep.sms import SenderDeps

logger = logging.getLogger("twostep.email.smtp")

# The whole exchange (connect, TLS, login, the message) may take this many timeouts: each step is a
# round trip or two that a working server answers at once.
DEADLINE_TIMEOUTS = 3
# Readiness's login check: each step's timeout and the whole exchange's (it waits for it only briefly).
CHECK_TIMEOUT_SECONDS = 2.0
CHECK_DEADLINE_SECONDS = 4.0
# The reply that says the server refused the username and password; 454 (a temporary failure), 534 or
# 538 (a mechanism or TLS needed) are the server's or the setup's trouble, not a wrong password.
AUTH_REFUSED = 535


class ExchangeDeadline:
    """Cuts an SMTP exchange off when its deadline passes.

    smtplib's timeout bounds each socket operation, not the exchange: a server sending its replies a
    byte at a time, each within the timeout, held the request (a password reset, a sign-in notice) for
    as long as it liked. At the deadline the connection is shut down, which ends any read or write
    under way with an error.
    """

    def __init__(self, seconds: float) -> None:
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._client: smtplib.SMTP | None = None
        self.passed = False

    def watch(self, client: smtplib.SMTP) -> None:
        self._client = client
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()

    def _cut(self) -> None:
        self.passed = True
        sock = getattr(self._client, "sock", None)
        if sock is not None:
            # socket.socket's own shutdown, also for an SSLSocket (whose override drops its TLS state
            # under the thread that is reading); an OSError: already closed.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class PlainClient(smtplib.SMTP):
    """An unconnected client that checks the certificate of `server` on STARTTLS.

    smtplib takes the name TLS checks against from its constructor's host only, never from `connect`;
    created without one, every STARTTLS raised ValueError ("check_hostname requires server_hostname").
    """

    def __init__(self, server: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._host = server


class TlsClient(smtplib.SMTP_SSL):
    """An unconnected implicit-TLS client that checks the certificate of `server` (as `PlainClient`)."""

    def __init__(self, server: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(timeout=timeout, context=context)
        self._host = server


class SmtpEmailSender:
    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        security: str = "starttls",
        timeout: float = 10.0,
        clock: Clock | None = None,
        reply_to: str | None = None,
    ) -> None:
        self._host, self._port, self._from, self._reply_to = host, port, sender, reply_to
        self._clock = clock or SystemClock()  # dates each email
        self._username, self._password = username, password
        self._security, self._timeout = security, timeout

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> SmtpEmailSender:
        if not settings.smtp_host:
            raise ConfigurationError("TWOSTEP_SMTP_HOST is required for the smtp email provider.")
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.email_from,
            username=settings.smtp_username,
            password=password,
            security=settings.smtp_security,
            timeout=settings.email_timeout_seconds,
            clock=deps.clock,
            reply_to=settings.email_reply_to,
        )

    def _client(self, timeout: float | None = None) -> smtplib.SMTP:
        """An unconnected client: the deadline watches it before the server's greeting is read."""
        timeout = self._timeout if timeout is None else timeout
        if self._security == "tls":
            return TlsClient(self._host, timeout, ssl.create_default_context())
        return PlainClient(self._host, timeout)

    def _exchange(self, client: smtplib.SMTP, message: EmailMessage) -> None:
        try:
            client.connect(self._host, self._port)
            if self._security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if self._username and self._password:
                client.login(self._username, self._password)
            client.send_message(message)
        finally:
            # Taken or not, the message's fate is decided: QUIT's answer changes nothing. (`with client`
            # raised on a QUIT answered 421 after the message was taken: the email went out with a code
            # never stored, and the caller got a 503.)
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()

    def check_credentials(self) -> CredentialAnswer:
        """Log in and leave (connect, STARTTLS/TLS as configured, AUTH, QUIT; no MAIL FROM, nothing sent).

        Refused only when the server answers the login 535; without a username and password there is
        nothing to check. A connection error or a timeout says nothing about the password."""
        if not (self._username and self._password):
            return CredentialAnswer(self.name, refused=False, detail="no login configured")
        client = self._client(min(CHECK_TIMEOUT_SECONDS, self._timeout))
        deadline = ExchangeDeadline(CHECK_DEADLINE_SECONDS)
        deadline.watch(client)
        try:
            self._log_in(client)
        except smtplib.SMTPAuthenticationError as exc:
            return CredentialAnswer(self.name, exc.smtp_code == AUTH_REFUSED, f"SMTP {exc.smtp_code}")
        except (smtplib.SMTPException, OSError) as exc:
            return CredentialAnswer.unanswered(
                self.name, "deadline" if deadline.passed else type(exc).__name__
            )
        finally:
            deadline.stop()
        return CredentialAnswer(self.name, refused=False, detail="SMTP 235")

    def _log_in(self, client: smtplib.SMTP) -> None:
        with client:  # QUIT on the way out
            client.connect(self._host, self._port)
            if self._security == "starttls":
                client.starttls(context=ssl.create_default_context())
            client.login(self._username or "", self._password or "")

    def send(self, to: str, subject: str, body: str) -> str:
        message = compose(self._from, to, subject, body, now=self._clock.now(), reply_to=self._reply_to)
        client = self._client()
        deadline = ExchangeDeadline(self._timeout * DEADLINE_TIMEOUTS)
        deadline.watch(client)
        try:
            self._exchange(client, message)
        except (smtplib.SMTPException, OSError) as exc:
            if deadline.passed:
                logger.warning("smtp delivery failed", extra={"error": "deadline"})
                raise EmailDeliveryError("timeout", self.name) from exc
            raise self._failure(exc) from exc
        finally:
            deadline.stop()
        return str(message["Message-ID"] or secrets.token_hex(8))

    def _failure(self, exc: smtplib.SMTPException | OSError) -> EmailDeliveryError:
        """The stable reason for a failed exchange; only unexpected failures are logged (by type)."""
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return EmailDeliveryError("auth", self.name)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return EmailDeliveryError("rejected_address", self.name)
        if isinstance(exc, TimeoutError):
            return EmailDeliveryError("timeout", self.name)
        # The reply code (451: try later; 554: refused) but not the server's text, which can name the address.
        reply = getattr(exc, "smtp_code", None)
        logger.warning("smtp delivery failed", extra={"error": type(exc).__name__, "reply": reply})
        return EmailDeliveryError("provider_error", self.name)
