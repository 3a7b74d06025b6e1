"""The one registry of delivery providers and the channels they carry: every name lives here.

Settings validation (`TWOSTEP_SMS_PROVIDERS`, `TWOSTEP_CHANNEL_PROVIDERS`), the container (which
providers need an HTTP client), the secret (which settings may come from it) and the SAM template's
allowed values (checked by a test) are all derived from `PROVIDERS`. A provider module is imported only
when a deployment configures it, so this module is plain data and imports nothing of twostep's own.

Adding a provider is one module with a `from_settings(settings, deps)` classmethod plus one entry here;
adding a channel is one sender module plus one `Carrier` line in a provider's entry (the console
provider carries every channel by itself). See docs/development/providers.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SMS = "sms"  # the channel every deployment has: `TWOSTEP_SMS_PROVIDERS`
EVERY_CHANNEL = "*"  # a carrier for whatever channel any provider carries (the dev console)


@dataclass(frozen=True, slots=True)
class Carrier:
    """One provider's sender for one channel: `module:Class`, imported only when configured.

    `needs` lists settings it cannot work without; a tuple of several names is satisfied by any one of
    them (Twilio's From number or its messaging service).
    """

    target: str
    needs: tuple[str | tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Provider:
    channels: Mapping[str, Carrier]
    http: bool = False  # needs the shared httpx client the container builds
    secrets: tuple[str, ...] = ()  # settings a deployment may keep in the AWS secret's "extra"
    dev_only: bool = False  # refused when TWOSTEP_STAGE=prod
    summary: str = ""

    def carrier(self, channel: str) -> Carrier | None:
        return self.channels.get(channel) or self.channels.get(EVERY_CHANNEL)


_TWILIO_AUTH = ("twilio_account_sid", "twilio_auth_token")

PROVIDERS: dict[str, Provider] = {
    "console": Provider(
        {EVERY_CHANNEL: Carrier("twostep.sms.console:ConsoleSender")},
        dev_only=True,
        summary="keeps every message in the outbox (`twostep sms outbox`), refused in prod",
    ),
    "sns": Provider(
        {SMS: Carrier("twostep.sms.sns:SnsSender")},
        secrets=("sns_sender_id", "sns_origination_number"),
        summary="Amazon SNS direct SMS",
    ),
    "twilio": Provider(
        {
            SMS: Carrier(
                "twostep.sms.twilio:TwilioSender",
                needs=(*_TWILIO_AUTH, ("twilio_from", "twilio_messaging_service_sid")),
            ),
            "voice": Carrier(
                "twostep.channels.twilio_voice:TwilioVoiceSender", (*_TWILIO_AUTH, "twilio_voice_from")
            ),
            "whatsapp": Carrier(
                "twostep.channels.twilio_whatsapp:TwilioWhatsAppSender",
                (*_TWILIO_AUTH, "twilio_whatsapp_from"),
            ),
        },
        http=True,
        secrets=(
            *_TWILIO_AUTH,
            "twilio_from",
            "twilio_messaging_service_sid",
            "twilio_voice_from",
            "twilio_whatsapp_from",
            "twilio_whatsapp_content_sid",
        ),
        summary="Twilio Programmable Messaging, Voice and WhatsApp",
    ),
    "flowroute": Provider(
        {
            SMS: Carrier(
                "twostep.sms.flowroute:FlowrouteSender",
                needs=("flowroute_access_key", "flowroute_secret_key", "flowroute_from"),
            )
        },
        http=True,
        secrets=("flowroute_access_key", "flowroute_secret_key", "flowroute_from"),
        summary="Flowroute Messaging API v2.1",
    ),
    "sipgate": Provider(
        {
            SMS: Carrier(
                "twostep.sms.sipgate:SipgateSender",
                needs=("sipgate_token_id", "sipgate_token", "sipgate_sms_id"),
            )
        },
        http=True,
        secrets=("sipgate_token_id", "sipgate_token", "sipgate_sms_id"),
        summary="sipgate.io SMS",
    ),
}


def channel_names() -> tuple[str, ...]:
    """Every channel some provider carries, `sms` first."""
    named = {channel for p in PROVIDERS.values() for channel in p.channels if channel != EVERY_CHANNEL}
    return (SMS, *sorted(named - {SMS}))


def providers_for(channel: str) -> tuple[str, ...]:
    """The providers that can carry `channel`, in registry order."""
    return tuple(name for name, p in PROVIDERS.items() if p.carrier(channel) is not None)


def carrier(provider: str, channel: str) -> Carrier:
    """Raises: KeyError when the provider is unknown or does not carry the channel."""
    found = PROVIDERS[provider].carrier(channel)
    if found is None:
        raise KeyError(f"{provider} does not carry {channel}")
    return found


def load(target: str) -> Any:
    """The class a `module:Class` target names, importing its module now (and only now)."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def needs_http(providers: Iterable[str]) -> bool:
    return any(PROVIDERS[name].http for name in providers if name in PROVIDERS)


def secret_settings() -> frozenset[str]:
    """Every provider setting a deployment may keep in the secret instead of the environment."""
    return frozenset(name for p in PROVIDERS.values() for name in p.secrets)


def missing_setting(settings: object, provider: str, channel: str) -> str | None:
    """The first setting `provider` needs for `channel` that `settings` leaves empty, as an error line."""
    for need in carrier(provider, channel).needs:
        names = (need,) if isinstance(need, str) else need
        if not any(_is_set(getattr(settings, name, None)) for name in names):
            variables = " (or ".join(f"TWOSTEP_{name.upper()}" for name in names) + ")" * (len(names) - 1)
            what = f"{provider} provider" if channel == SMS else f"{provider} {channel} channel"
            return f"{variables} is required for the {what}"
    return None


def _is_set(value: object) -> bool:
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


def parse_channel_providers(entries: Iterable[str]) -> dict[str, list[str]]:
    """`["voice:twilio", "whatsapp:twilio"]` as `{"voice": ["twilio"], "whatsapp": ["twilio"]}`.

    Raises:
        ValueError: an entry that is not `channel:provider`, names an unknown channel, or a provider
            that does not carry its channel (the message lists what would work).
    """
    parsed: dict[str, list[str]] = {}
    for entry in entries:
        channel, _, provider = (part.strip() for part in entry.partition(":"))
        if channel == SMS:
            raise ValueError("SMS providers are set by TWOSTEP_SMS_PROVIDERS, not here")
        if channel not in channel_names() or not provider:
            others = ", ".join(channel_names()[1:])
            raise ValueError(f"{entry!r} is not channel:provider with a channel of {others}")
        if provider not in PROVIDERS or PROVIDERS[provider].carrier(channel) is None:
            raise ValueError(f"{provider!r} cannot carry {channel}; use {', '.join(providers_for(channel))}")
        if provider not in parsed.setdefault(channel, []):
            parsed[channel].append(provider)
    return parsed


def configured(settings: Any) -> dict[str, list[str]]:
    """The providers serving each channel, in the order they are tried.

    `sms` comes from `TWOSTEP_SMS_PROVIDERS`, the others from `TWOSTEP_CHANNEL_PROVIDERS`. Left unset
    on a dev deployment that texts only through the console, every channel goes to the console, so a
    fresh checkout can try voice and WhatsApp codes from the outbox.
    """
    channels = {SMS: list(settings.sms_providers)}
    entries = settings.channel_providers
    if entries is None:
        if settings.stage == "dev" and channels[SMS] == ["console"]:
            channels.update({channel: ["console"] for channel in channel_names()[1:]})
        return channels
    channels.update(parse_channel_providers(entries))
    return channels


def configured_providers(settings: Any) -> frozenset[str]:
    """Every provider some channel of `configured` uses: what the container builds senders (and an HTTP
    client) for, and what decides whether the verification API may go without keys."""
    return frozenset(name for names in configured(settings).values() for name in names)
