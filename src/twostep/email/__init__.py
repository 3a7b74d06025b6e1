"""Email senders, chosen by `TWOSTEP_EMAIL_PROVIDER`; each imported only when chosen.

Adding a provider is one module with a `from_settings(settings, deps)` classmethod and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

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
