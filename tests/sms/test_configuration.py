"""A configured provider without its credentials stops start-up with one line naming the setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.live import run_cli
from tests.sms.conftest import sms_settings
from twostep.container import build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import ConfigurationError
from twostep.sms import SenderDeps, build_delivery
from twostep.storage.memory import MemoryStorage

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize(
    ("provider", "field", "setting"),
    [
        ("twilio", "twilio_account_sid", "TWOSTEP_TWILIO_ACCOUNT_SID"),
        ("twilio", "twilio_auth_token", "TWOSTEP_TWILIO_AUTH_TOKEN"),
        ("twilio", "twilio_from", "TWOSTEP_TWILIO_FROM"),
        ("flowroute", "flowroute_access_key", "TWOSTEP_FLOWROUTE_ACCESS_KEY"),
        ("flowroute", "flowroute_secret_key", "TWOSTEP_FLOWROUTE_SECRET_KEY"),
        ("flowroute", "flowroute_from", "TWOSTEP_FLOWROUTE_FROM"),
        ("sipgate", "sipgate_token_id", "TWOSTEP_SIPGATE_TOKEN_ID"),
        ("sipgate", "sipgate_token", "TWOSTEP_SIPGATE_TOKEN"),
        ("sipgate", "sipgate_sms_id", "TWOSTEP_SIPGATE_SMS_ID"),
    ],
)
def test_missing_setting_is_named(tmp_path: Path, provider: str, field: str, setting: str) -> None:
    settings = sms_settings(tmp_path, sms_providers=["console", provider], **{field: None})
    deps = SenderDeps(outbox=MemoryStorage(), clock=FixedClock())

    with pytest.raises(ConfigurationError) as raised:
        build_delivery(settings, deps)

    assert raised.value.message.startswith(setting)
    assert f"required for the {provider} provider" in raised.value.message


def test_twilio_messaging_service_sid_is_enough_without_from(tmp_path: Path) -> None:
    settings = sms_settings(
        tmp_path, sms_providers=["twilio"], twilio_from=None, twilio_messaging_service_sid="MGabc"
    )

    assert build_delivery(settings, SenderDeps(outbox=MemoryStorage(), clock=FixedClock())).name == "twilio"


@pytest.mark.parametrize("number", ["2065550100", "+442071838750", "1206555010x", "120655501000"])
def test_flowroute_from_must_be_eleven_digits(tmp_path: Path, number: str) -> None:
    settings = sms_settings(tmp_path, sms_providers=["flowroute"], flowroute_from=number)

    with pytest.raises(ConfigurationError, match="TWOSTEP_FLOWROUTE_FROM must be your 11-digit"):
        build_delivery(settings, SenderDeps(outbox=MemoryStorage(), clock=FixedClock()))


def test_container_build_refuses_missing_credentials(tmp_path: Path) -> None:
    settings = sms_settings(tmp_path, sms_providers=["twilio"], twilio_auth_token=None)

    with pytest.raises(ConfigurationError, match="TWOSTEP_TWILIO_AUTH_TOKEN is required"):
        build(settings, storage=MemoryStorage(), clock=FixedClock())


def test_cli_prints_one_line_naming_the_setting_and_exits_2(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TWOSTEP_")}
    env.update(
        PYTHONPATH=str(SRC),
        TWOSTEP_SMS_PROVIDERS="twilio",
        TWOSTEP_STORAGE="sqlite",
        TWOSTEP_SQLITE_PATH=str(tmp_path / "twostep.db"),
        TWOSTEP_JWT_KEY_FILE=str(tmp_path / "keys.json"),
    )

    result = run_cli(env, "storage", "init", cwd=tmp_path, timeout=60)  # no .env in tmp_path

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "twostep: TWOSTEP_TWILIO_ACCOUNT_SID is required for the twilio provider"
    ]


def test_container_builds_one_http_client_with_the_configured_timeouts(tmp_path: Path) -> None:
    settings = sms_settings(tmp_path, sms_providers=["twilio", "sipgate"], sms_timeout_seconds=4)

    container = build(settings, storage=MemoryStorage(), clock=FixedClock())
    (client,) = container.closers
    container.close()

    assert container.sender.name == "twilio+sipgate"
    assert (client.timeout.read, client.timeout.connect) == (4, 3)
    assert client.is_closed


def test_a_sender_built_around_the_registry_check_refuses_an_unset_setting(tmp_path: Path) -> None:
    """The registry's `needs` is the one check; a sender built without it fails loudly, not with None."""
    from twostep.sms.sipgate import SipgateSender

    settings = sms_settings(tmp_path, sipgate_token=None)
    with pytest.raises(LookupError, match="build senders with build_sender"):
        SipgateSender.from_settings(settings, SenderDeps(outbox=MemoryStorage(), clock=FixedClock()))
