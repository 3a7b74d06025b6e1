"""Every configured channel behind one `MessageDelivery`: the SMS providers and those of voice, WhatsApp.

Each channel keeps the retry-once-then-fail-over policy of `FailoverSender` over its own providers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from twostep.channels import registry
from twostep.domain.delivery import OutgoingMessage, SentMessage, SmsOnlyDelivery
from twostep.domain.errors import ChannelNotConfigured
from twostep.domain.ports import SmsSender
from twostep.settings import Settings
from twostep.sms import SenderDeps, build_sender
from twostep.sms.failover import FailoverSender


class _Line(Protocol):
    def deliver(self, message: OutgoingMessage) -> SentMessage: ...


class ChannelRouter:
    def __init__(self, sms: SmsSender, others: Mapping[str, FailoverSender] | None = None) -> None:
        # An injected SMS sender (tests, the pumping simulation) that is not a FailoverSender still works.
        self._lines: dict[str, _Line] = {
            registry.SMS: sms if isinstance(sms, FailoverSender) else SmsOnlyDelivery(sms)
        }
        self._lines.update(others or {})
        self.name = sms.name

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self._lines)

    def deliver(self, message: OutgoingMessage) -> SentMessage:
        """Raises: ChannelNotConfigured, SmsDeliveryError."""
        line = self._lines.get(message.channel)
        if line is None:
            raise ChannelNotConfigured(message.channel, self.channels)
        return line.deliver(message)


def build_channels(settings: Settings, deps: SenderDeps, sms: SmsSender) -> ChannelRouter:
    """The router over `sms` and the providers `TWOSTEP_CHANNEL_PROVIDERS` names for other channels.

    Raises:
        ConfigurationError: a configured provider misses a setting (the message names it).
    """
    others = {
        channel: FailoverSender(
            [build_sender(name, settings, deps, channel) for name in names], deps.clock, channel
        )
        for channel, names in registry.configured(settings).items()
        if channel != registry.SMS and names
    }
    return ChannelRouter(sms, others)
