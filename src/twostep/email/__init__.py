"""Email senders, chosen by `TWOSTEP_EMAIL_PROVIDER`; each imported only when chosen.

Adding a provider is one module with a `from_settings(settings, deps)` classmethod and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from twostep.domain.errors import ConfigurationError
from twostep.domain.ports import EmailSender
from twostep.settings import Settings
from twostep.sms import SenderDeps

REGISTRY: dict[str, str] = {
    "console": "twostep.email.console:ConsoleEmailSender",
    "smtp": "twostep.email.smtp:SmtpEmailSender",
    "ses": "twostep.email.ses:SesEmailSender",
}


def build_email_sender(settings: Settings, deps: SenderDeps) -> EmailSender:
    """The configured email provider.

    Raises:
        ConfigurationError: the provider misses a setting (the message names it).
    """
    module_name, _, attribute = REGISTRY[settings.email_provider].partition(":")
    cls: Any = getattr(importlib.import_module(module_name), attribute)
    sender: EmailSender = cls.from_settings(settings, deps)
    return sender


def refuse_console_email_in_prod(settings: Settings) -> None:
    """Refuse the console provider in prod where email is sent: the API (server and Lambda handler).

    Not a settings check: the verification app sends no email, and its operator names no provider.
    Checked before anything is built, so that a prod API stops at start instead of at its first reset
    email.

    Raises:
        ConfigurationError: prod with the console provider, whose "emails" only reach the outbox.
    """
    if settings.stage == "prod" and settings.email_provider == "console":
        raise ConfigurationError("TWOSTEP_EMAIL_PROVIDER: the console provider is refused in prod")
