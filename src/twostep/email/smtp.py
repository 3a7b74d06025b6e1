"""Email over SMTP with the standard library: STARTTLS or implicit TLS, optional login, a timeout.

Every failure becomes `EmailDeliveryError` with a stable reason; neither the body nor the password is
logged or put into an error.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from twostep.domain.errors import ConfigurationError, EmailDeliveryError
from twostep.settings import Settings
from twostep.sms import SenderDeps

logger = logging.getLogger("twostep.email.smtp")


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
    ) -> None:
        self._host, self._port, self._from = host, port, sender
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
        )

    def _message(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._from, to, subject
        message["Message-ID"] = make_msgid(domain=self._from.rpartition("@")[2].strip("> ") or None)
        message.set_content(body)
        return message

    def _connect(self) -> smtplib.SMTP:
        if self._security == "tls":
            return smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
            )
        client = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        if self._security == "starttls":
            client.starttls(context=ssl.create_default_context())
        return client

    def send(self, to: str, subject: str, body: str) -> str:
        message = self._message(to, subject, body)
        try:
            with self._connect() as client:
                if self._username and self._password:
                    client.login(self._username, self._password)
                client.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise EmailDeliveryError("auth", self.name) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise EmailDeliveryError("rejected_address", self.name) from exc
        except TimeoutError as exc:
            raise EmailDeliveryError("timeout", self.name) from exc
        except (smtplib.SMTPException, OSError) as exc:
            logger.warning("smtp delivery failed", extra={"error": type(exc).__name__})
            raise EmailDeliveryError("provider_error", self.name) from exc
        return str(message["Message-ID"] or secrets.token_hex(8))
