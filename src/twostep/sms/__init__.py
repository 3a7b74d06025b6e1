"""SMS senders, chosen by `TWOSTEP_SMS_PROVIDERS` (tried in order); each imported only when chosen.

The provider registry (`twostep.channels.registry`) names them and says what each needs; adding a
provider is one module with a `from_settings(settings, deps)` classmethod and one line there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twostep.channels import registry
from twostep.domain.clock import Clock
from twostep.domain.delivery import ChannelSender
from twostep.domain.errors import ConfigurationError
from twostep.domain.ports import OutboxStore, SmsSender
from twostep.settings import Settings

# The SMS senders by name, derived from the registry (kept for callers of the former table).
REGISTRY: dict[str, str] = {
    name: registry.carrier(name, registry.SMS).target for name in registry.providers_for(registry.SMS)
}


@dataclass(frozen=True)
class SenderDeps:
    """What senders may need, created once by the container and injected."""

    outbox: OutboxStore
    clock: Clock
    http: Any = None  # httpx.Client
    boto_session: Any = None  # boto3.Session


def build_sender(
    name: str, settings: Settings, deps: SenderDeps, channel: str = registry.SMS
) -> SmsSender | ChannelSender:
    """The provider `name`'s sender for `channel`, its module imported now.

    Raises:
        ConfigurationError: a setting the registry says it needs is missing (the message names it).
    """
    missing = registry.missing_setting(settings, name, channel)
    if missing is not None:
        raise ConfigurationError(missing)
    cls = registry.load(registry.carrier(name, channel).target)
    sender: SmsSender | ChannelSender = cls.from_settings(settings, deps)
    return sender


def build_delivery(settings: Settings, deps: SenderDeps) -> SmsSender:
    """The configured SMS providers as one sender with the retry-once-then-fail-over policy.

    Raises:
        ConfigurationError: a configured provider misses a setting (the message names it).
    """
    from twostep.sms.failover import FailoverSender

    senders = [build_sender(name, settings, deps) for name in settings.sms_providers]
    return FailoverSender(senders, deps.clock)
