"""A message on some channel (an SMS, a voice call, a WhatsApp message) and what sending it returned.

The channel names themselves belong to the provider registry (`twostep.channels.registry`); the core
only knows that `sms` is the default and that a delivery can tell which channels it carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeGuard, cast, runtime_checkable

from twostep.domain.errors import ChannelNotConfigured
from twostep.domain.ports import SmsSender, send_expiring

SMS = "sms"
VOICE = "voice"
# How a voice call speaks a text unless the caller names a language (a BCP 47 tag).
DEFAULT_LANGUAGE = "en-US"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to one number. `language` tells a voice call how to speak `text`."""

    to: str
    text: str
    channel: str = SMS
    language: str = DEFAULT_LANGUAGE
    valid_seconds: int | None = None  # the code's lifetime: providers that can drop a late message do
    code: str | None = field(default=None, repr=False)  # for providers that fill an approved template


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What a provider took: enough to match its delivery receipt later."""

    provider: str
    message_id: str
    channel: str


@runtime_checkable
class ChannelSender(Protocol):
    """A sender for a channel other than plain SMS (or for several): takes the whole message."""

    name: str

    def send_message(self, message: OutgoingMessage) -> str:
        """Deliver `message`; returns the provider's message (or call) id.

        Raises:
            SmsDeliveryError: with a stable `reason` when the provider did not take it.
        """
        ...


class MessageDelivery(Protocol):
    """Every configured channel: what services send codes and notices through."""

    name: str  # the SMS providers, for metrics

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this delivery carries, `sms` first."""
        ...

    def deliver(self, message: OutgoingMessage) -> SentMessage:
        """Raises: ChannelNotConfigured, SmsDeliveryError."""
        ...


# `isinstance` against a runtime-checkable Protocol looks up every member on the object each time (about
# 15 us on Python 3.11, once per code sent); a sender's class decides it, so the answer is kept per class.
_TAKES_MESSAGES: dict[type, bool] = {}


def _takes_messages(sender: SmsSender | ChannelSender) -> TypeGuard[ChannelSender]:
    kind = type(sender)
    takes = _TAKES_MESSAGES.get(kind)
    if takes is None:
        takes = _TAKES_MESSAGES[kind] = isinstance(sender, ChannelSender)
    return takes


def send_with(sender: SmsSender | ChannelSender, message: OutgoingMessage) -> str:
    """One provider's attempt at `message`, through its channel interface or its SMS one.

    Raises:
        SmsDeliveryError: as `SmsSender.send`.
    """
    if _takes_messages(sender):
        return sender.send_message(message)
    sms = cast("SmsSender", sender)  # not a ChannelSender: what `isinstance` would narrow it to
    if message.valid_seconds is not None:
        return send_expiring(sms, message.to, message.text, message.valid_seconds)
    return sms.send(message.to, message.text)


class SmsOnlyDelivery:
    """One SMS sender as a delivery that carries only `sms` (services built without a channel router)."""

    def __init__(self, sender: SmsSender) -> None:
        self._sender = sender
        self.name = sender.name

    @property
    def channels(self) -> tuple[str, ...]:
        return (SMS,)

    def deliver(self, message: OutgoingMessage) -> SentMessage:
        """Raises: ChannelNotConfigured, SmsDeliveryError."""
        if message.channel != SMS:
            raise ChannelNotConfigured(message.channel, (SMS,))
        return SentMessage(self._sender.name, send_with(self._sender, message), SMS)
