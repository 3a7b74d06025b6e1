"""SMS senders, chosen by `TWOSTEP_SMS_PROVIDERS` (tried in order); each imported only when chosen.

Adding a provider is one module with a `from_settings(settings, deps)` classmethod and one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from twostep.domain.clock import Clock
from twostep.domain.ports import OutboxStore, SmsSender
from twostep.settings import Settings

REGISTRY: dict[str, str] = {
    "console": "twostep.sms.console:ConsoleSender",
    "sns": "twostep.sms.sns:SnsSender",
    "twilio": "twostep.sms.twilio:TwilioSender",
    "flowroute": "twostep.sms.flowroute:FlowrouteSender",
    "sipgate": "twostep.sms.sipgate:SipgateSender",
}


@dataclass(frozen=True)
class SenderDeps:
    """What senders may need, created once by the container and injected."""

    outbox: OutboxStore
    clock: Clock
    http: Any = None  # httpx.Client
    boto_session: Any = None  # boto3.Session


def build_sender(name: str, settings: Settings, deps: SenderDeps) -> SmsSender:
    module_name, _, attribute = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attribute)
    if name == "console":
        sender: SmsSender = cls(deps.outbox, deps.clock)
        return sender
    built: SmsSender = cls.from_settings(settings, deps)
    return built


def build_delivery(settings: Settings, deps: SenderDeps) -> SmsSender:
    """The configured providers as one sender with the retry-once-then-fail-over policy.

    Raises:
        ConfigurationError: a configured provider misses a setting (the message names it).
    """
    from twostep.sms.failover import FailoverSender

    senders = [build_sender(name, settings, deps) for name in settings.sms_providers]
    return FailoverSender(senders, deps.clock)
