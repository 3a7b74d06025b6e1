"""The provider registry is the one place provider and channel names live; everything else derives."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.conftest import settings_for_tests
from twostep.channels import registry
from twostep.domain.clock import FixedClock
from twostep.domain.errors import ConfigurationError
from twostep.secrets import secret_settings
from twostep.settings import KNOWN_SMS_PROVIDERS, describe_validation_error
from twostep.sms import REGISTRY, SenderDeps, build_sender
from twostep.storage.memory import MemoryStorage

ROOT = Path(__file__).resolve().parents[2]


def test_channel_and_provider_names_come_from_the_entries() -> None:
    assert registry.channel_names() == ("sms", "voice", "whatsapp")
    assert registry.providers_for("sms") == ("console", "sns", "twilio", "flowroute", "sipgate")
    assert registry.providers_for("voice") == ("console", "twilio")
    assert registry.providers_for("sms") == KNOWN_SMS_PROVIDERS
    assert set(REGISTRY) == set(KNOWN_SMS_PROVIDERS)


def test_every_carrier_names_a_class_with_from_settings() -> None:
    for name, provider in registry.PROVIDERS.items():
        for channel, carrier in provider.channels.items():
            cls = registry.load(carrier.target)
            assert callable(getattr(cls, "from_settings", None)), (name, channel)


def test_reading_settings_imports_no_provider_module() -> None:
    """Start-up stays small: validation reads the registry, never a provider's module (nor httpx)."""
    probe = (
        "import sys; from twostep.settings import Settings; "
        "Settings(_env_file=None, channel_providers=['voice:twilio', 'whatsapp:twilio']); "
        "print(sorted(m for m in sys.modules if m.startswith(('twostep.sms', 'twostep.channels.', 'httpx'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "['twostep.channels.registry']"


def test_a_missing_setting_is_named_by_provider_and_channel(tmp_path: Path) -> None:
    settings = settings_for_tests(tmp_path, twilio_account_sid="AC1", twilio_auth_token="t")

    assert registry.missing_setting(settings, "twilio", "voice") == (
        "TWOSTEP_TWILIO_VOICE_FROM is required for the twilio voice channel"
    )
    assert registry.missing_setting(settings, "twilio", "sms") == (
        "TWOSTEP_TWILIO_FROM (or TWOSTEP_TWILIO_MESSAGING_SERVICE_SID) is required for the twilio provider"
    )
    with_service = settings.model_copy(update={"twilio_messaging_service_sid": "MG1"})
    assert registry.missing_setting(with_service, "twilio", "sms") is None
    assert registry.missing_setting(settings, "console", "voice") is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sms_providers": ["twilio", "fax"]}, "unknown provider(s) fax; use console, sns, twilio"),
        ({"channel_providers": ["voice:sns"]}, "'sns' cannot carry voice; use console, twilio"),
        ({"channel_providers": ["pigeon:twilio"]}, "'pigeon:twilio' is not channel:provider"),
        ({"channel_providers": ["sms:twilio"]}, "SMS providers are set by TWOSTEP_SMS_PROVIDERS"),
        (
            {"stage": "prod", "sms_providers": ["sns"], "channel_providers": ["voice:console"]},
            "TWOSTEP_CHANNEL_PROVIDERS: the console provider is refused in prod",
        ),
    ],
)
def test_settings_refuse_names_the_registry_does_not_allow(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        settings_for_tests(tmp_path, **overrides)

    line = describe_validation_error(raised.value)
    assert message in line
    assert "\n" not in line


def test_channels_default_to_the_console_only_on_a_console_dev_deployment(tmp_path: Path) -> None:
    dev = settings_for_tests(tmp_path)
    assert registry.configured(dev) == {"sms": ["console"], "voice": ["console"], "whatsapp": ["console"]}

    real = settings_for_tests(tmp_path, sms_providers=["twilio"])
    assert registry.configured(real) == {"sms": ["twilio"]}

    chosen = settings_for_tests(tmp_path, channel_providers="voice:twilio,voice:console,whatsapp:twilio")
    assert registry.configured(chosen) == {
        "sms": ["console"],
        "voice": ["twilio", "console"],
        "whatsapp": ["twilio"],
    }
    off = settings_for_tests(tmp_path, channel_providers="")
    assert registry.configured(off) == {"sms": ["console"]}


def test_the_configured_providers_span_every_channel(tmp_path: Path) -> None:
    """One derivation decides both the HTTP client and whether the verification API may go keyless: a
    real provider on any channel, not only SMS, counts."""
    from twostep.api.routes_verification import open_without_keys

    console_only = settings_for_tests(tmp_path)
    assert registry.configured_providers(console_only) == {"console"}
    assert open_without_keys(console_only)

    calls = settings_for_tests(
        tmp_path, channel_providers="voice:twilio", twilio_account_sid="AC1", twilio_auth_token="t"
    )
    assert registry.configured_providers(calls) == {"console", "twilio"}
    assert registry.needs_http(registry.configured_providers(calls))
    assert not open_without_keys(calls)


# A usable value for every setting some carrier `needs`.
NEEDED_VALUES = {
    "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
    "twilio_auth_token": "twilio-token",
    "twilio_from": "+15005550006",
    "twilio_messaging_service_sid": "MG0123456789abcdef0123456789abcdef",
    "twilio_voice_from": "+15005550007",
    "twilio_whatsapp_from": "+15005550008",
    "flowroute_access_key": "fr-access",
    "flowroute_secret_key": "fr-secret",
    "flowroute_from": "12065550100",
    "sipgate_token_id": "token-1",
    "sipgate_token": "sipgate-secret",
    "sipgate_sms_id": "s0",
}


def _need_choices() -> list[tuple[str, str, dict[str, str]]]:
    """(provider, channel, settings) for every way of meeting a carrier's `needs` (one name of each
    either-or group); SNS takes its credentials from the AWS session, not from settings."""
    choices = []
    for name, provider in registry.PROVIDERS.items():
        for channel, carrier in provider.channels.items():
            if name == "sns" or channel == registry.EVERY_CHANNEL:
                continue
            groups = [(need,) if isinstance(need, str) else need for need in carrier.needs]
            for alternative in range(max((len(group) for group in groups), default=1)):
                picked = [group[min(alternative, len(group) - 1)] for group in groups]
                choices.append((name, channel, {setting: NEEDED_VALUES[setting] for setting in picked}))
    return choices


@pytest.mark.parametrize(("provider", "channel", "values"), _need_choices())
def test_a_carrier_builds_from_exactly_what_the_registry_says_it_needs(
    tmp_path: Path, provider: str, channel: str, values: dict[str, str]
) -> None:
    """The registry's `needs` is the one check of a provider's settings: a sender asks for nothing more,
    and blanking any one of them stops start-up with the registry's line."""
    with httpx.Client() as http:
        deps = SenderDeps(outbox=MemoryStorage(), clock=FixedClock(), http=http)
        built = build_sender(provider, settings_for_tests(tmp_path, **values), deps, channel)
        assert built.name == provider
        for setting in values:
            blank = settings_for_tests(tmp_path, **(values | {setting: " "}))
            with pytest.raises(ConfigurationError) as raised:
                build_sender(provider, blank, deps, channel)
            assert raised.value.message == registry.missing_setting(blank, provider, channel)


def test_secret_and_http_needs_derive_from_the_registry() -> None:
    assert {"twilio_voice_from", "twilio_whatsapp_from", "sipgate_token"} <= secret_settings()
    assert {"verify_api_keys", "verify_tenants"} <= secret_settings()
    assert registry.needs_http(["console", "twilio"])
    assert not registry.needs_http(["console", "sns"])


def _template_parameter(name: str) -> dict[str, Any]:
    from cfnlint.decode import decode

    template, errors = decode(str(ROOT / "template.yaml"))
    assert not errors and template is not None
    parameter: dict[str, Any] = template["Parameters"][name]
    return parameter


def _any_of(names: tuple[str, ...] | list[str]) -> str:
    return "(" + "|".join(names) + ")"


def test_template_allows_exactly_the_registry_sms_providers() -> None:
    one = _any_of(registry.providers_for("sms"))
    assert _template_parameter("SmsProviders")["AllowedPattern"] == f"^{one}(,{one})*$"


def test_template_allows_exactly_the_registry_channel_providers() -> None:
    entries = [
        f"{channel}:{_any_of(registry.providers_for(channel))}" for channel in registry.channel_names()[1:]
    ]
    one = _any_of(entries)
    pattern = _template_parameter("ChannelProviders")["AllowedPattern"]
    assert pattern == f"^({one}(,{one})*)?$"
    assert re.fullmatch(pattern, "voice:twilio,whatsapp:console")
    assert re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "voice:sns")


def test_the_docs_table_lists_every_provider_and_channel() -> None:
    from twostep.docs.providers_page import providers_markdown

    page = providers_markdown()
    for name, provider in registry.PROVIDERS.items():
        for carrier in provider.channels.values():
            assert f"| `{carrier.target}` |" in page and f"`{name}`" in page
    assert (
        "| `voice` | `TWOSTEP_TWILIO_ACCOUNT_SID`, `TWOSTEP_TWILIO_AUTH_TOKEN`, `TWOSTEP_TWILIO_VOICE_FROM` |"
        in page
    )
