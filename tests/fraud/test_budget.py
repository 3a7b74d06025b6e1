"""The money budget: segments times the destination's price, hourly and daily, global and per country;
a hard stop answers 503 `sms_budget_exhausted` with Retry-After and logs an alert."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tests.conftest import settings_for_tests
from tests.fraud.conftest import MakeGuarded, mobile
from twostep.api.app import create_app
from twostep.domain.clock import FixedClock
from twostep.domain.segments import count_segments
from twostep.services.counting import window_of
from twostep.services.sms_prices import DEFAULT_PRICES_USD, MICRO
from twostep.settings import describe_validation_error

US = "+12065551234"
GSM_TEMPLATE = "{code} is your code."
# 80 characters with some outside GSM-7, plus the code: UCS-2, 90 units, so 2 segments of 67.
UCS2_TEMPLATE = "{code} 🔐 " + "Ünïcödé ✓ " * 8


def create(client: TestClient, auth_id: str, recipient: str) -> int:
    return client.post("/verifications", json={"auth_id": auth_id, "recipient": recipient}).status_code


def test_the_template_segments_are_counted() -> None:
    body = UCS2_TEMPLATE.replace("{code}", "123456")
    assert count_segments(body).encoding == "ucs2"
    assert count_segments(body).count == 2
    assert count_segments(GSM_TEMPLATE.replace("{code}", "123456")).count == 1


@pytest.mark.parametrize(("template", "sends"), [(GSM_TEMPLATE, 5), (UCS2_TEMPLATE, 2)])
def test_hourly_budget_counts_money_per_segment(
    guarded: MakeGuarded, clock: FixedClock, caplog: pytest.LogCaptureFixture, template: str, sends: int
) -> None:
    # a two-segment text must be allowed (start-up refuses texts over TWOSTEP_SMS_MAX_SEGMENTS)
    container = guarded(
        sms_prices="DE:1", sms_budget_hourly_usd=5, verify_template=template, sms_max_segments=2
    )
    caplog.set_level(logging.ERROR, logger="twostep.limits")
    clock.advance(600)  # ten minutes into the hour
    with TestClient(create_app(container)) as client:
        assert [create(client, f"a{i}", mobile(i)) for i in range(sends)] == [200] * sends
        refused = client.post("/verifications", json={"auth_id": "late", "recipient": mobile(99)})
        assert refused.status_code == 503, refused.text
        assert (refused.json()["reason"], refused.json()["code"]) == (
            "SmsBudgetExhausted",
            "sms_budget_exhausted",
        )
        assert refused.headers["retry-after"] == str(50 * 60)
        clock.advance(50 * 60)
        assert create(client, "next-hour", mobile(98)) == 200
    assert len(container.storage.list_outbox(last=100)) == sends + 1
    alerts = [r for r in caplog.records if r.getMessage().startswith("ALERT sms budget exhausted")]
    assert len(alerts) == 1 and getattr(alerts[0], "budget", None) == "hourly"


def test_a_country_budget_stops_that_country_only(guarded: MakeGuarded) -> None:
    container = guarded(sms_prices="DE:1,US:1", sms_country_budgets="DE:2/10")
    with TestClient(create_app(container)) as client:
        assert [create(client, f"d{i}", mobile(i)) for i in range(3)] == [200, 200, 503]
        assert create(client, "us", US) == 200


def test_daily_budget_holds_across_hours(guarded: MakeGuarded, clock: FixedClock) -> None:
    container = guarded(sms_prices="DE:1", sms_budget_hourly_usd=None, sms_budget_daily_usd=3)
    with TestClient(create_app(container)) as client:
        clock.advance(-12 * 3600)  # midnight UTC
        for i in range(3):
            assert create(client, f"a{i}", mobile(i)) == 200
            clock.advance(3600)
        refused = client.post("/verifications", json={"auth_id": "x", "recipient": mobile(9)})
        assert refused.status_code == 503 and refused.json()["code"] == "sms_budget_exhausted"
        assert refused.headers["retry-after"] == str(21 * 3600)
        clock.advance(21 * 3600)
        assert create(client, "tomorrow", mobile(10)) == 200


def test_a_budget_refusal_costs_no_other_limit(guarded: MakeGuarded) -> None:
    container = guarded(sms_prices="DE:1", sms_budget_hourly_usd=2, ip_sms_per_hour=3)
    with TestClient(create_app(container)) as client:
        assert [create(client, f"a{i}", mobile(i)) for i in range(4)] == [200, 200, 503, 503]
    start, _ = window_of(container.clock.now(), 3600)
    ip_units = container.storage.get_counter(f"sms-ip:testclient@3600:{start}", container.clock.now())
    assert ip_units is not None and ip_units.value == 2  # the refused sends gave their IP units back


def test_price_table_defaults_and_overrides(guarded: MakeGuarded) -> None:
    container = guarded(sms_prices="DE:0.5,*:0.3")
    budget = container.limits.sms.budget
    assert budget.cost(mobile(1), 2) == 2 * 500_000  # overridden
    assert budget.cost(US, 1) == round(DEFAULT_PRICES_USD["US"] * MICRO)  # the shipped table
    assert budget.cost("+8613800138000", 1) == 300_000  # a country not listed: `*`


def test_malformed_prices_are_refused_at_start_up(guarded: MakeGuarded) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="CC:price"):
        guarded(sms_prices="Germany:1")
    with pytest.raises(ValidationError, match="CC:hourly/daily"):
        guarded(sms_country_budgets="DE:5")


@pytest.mark.parametrize(
    ("channel", "overrides", "sends"),
    [
        ("voice", {}, 2),  # a call counts as two segments by default: $2 each against $5
        ("voice", {"voice_call_units": 1}, 5),
        ("voice", {"voice_call_units": 5}, 1),
        ("whatsapp", {"verify_template": UCS2_TEMPLATE, "sms_max_segments": 2}, 5),  # never split: one
        ("sms", {"verify_template": UCS2_TEMPLATE, "sms_max_segments": 2}, 2),  # two segments a text
    ],
)
def test_each_channel_counts_its_units_against_the_money_budget(
    guarded: MakeGuarded, channel: str, overrides: dict[str, object], sends: int
) -> None:
    container = guarded(sms_prices="DE:1", sms_budget_hourly_usd=5, **overrides)
    with TestClient(create_app(container)) as client:
        for i in range(sends):
            body = {"auth_id": f"a{i}", "recipient": mobile(i), "channel": channel}
            assert client.post("/verifications", json=body).status_code == 200
        body = {"auth_id": "late", "recipient": mobile(99), "channel": channel}
        refused = client.post("/verifications", json=body)
    assert (refused.status_code, refused.json()["code"]) == (503, "sms_budget_exhausted")
    assert [entry.channel for entry in container.storage.list_outbox(last=100)] == [channel] * sends


@pytest.mark.parametrize("variable", ["TWOSTEP_SMS_BUDGET_HOURLY_USD", "TWOSTEP_SMS_BUDGET_DAILY_USD"])
def test_an_empty_budget_variable_is_no_limit(
    guarded: MakeGuarded, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """The reference says "Empty: no limit", yet an empty variable stopped the start ("Input should be a
    valid number"): no limit could be set from the environment, only from Python. Now it is none."""
    monkeypatch.setenv("TWOSTEP_SMS_BUDGET_HOURLY_USD", "100000")
    monkeypatch.setenv("TWOSTEP_SMS_BUDGET_DAILY_USD", "100000")
    monkeypatch.setenv(variable, "")
    container = guarded(sms_prices="DE:600")  # two texts cost 1200, over either default budget
    with TestClient(create_app(container)) as client:
        assert [create(client, f"a{i}", mobile(i)) for i in range(2)] == [200, 200]
    monkeypatch.setenv(variable, "1000")
    container = guarded(sms_prices="DE:600")
    with TestClient(create_app(container)) as client:
        assert [create(client, f"a{i}", mobile(i)) for i in range(2)] == [200, 503]


@pytest.mark.parametrize(("units", "calls"), [(2, 4), (5, 1)])
def test_a_voice_call_counts_its_units_against_the_budget(
    guarded: MakeGuarded, units: int, calls: int
) -> None:
    """TWOSTEP_VOICE_CALL_UNITS at other values (never run so before): a call costs that many segments."""
    container = guarded(
        sms_prices="DE:1", sms_budget_hourly_usd=9, voice_call_units=units, channel_providers="voice:console"
    )
    with TestClient(create_app(container)) as client:
        answers = [
            client.post(
                "/verifications", json={"auth_id": f"a{i}", "recipient": mobile(i), "channel": "voice"}
            ).status_code
            for i in range(calls + 1)
        ]
    assert answers == [200] * calls + [503]


def test_a_wildcard_country_budget_stops_the_start(tmp_path: Path) -> None:
    """`*` prices every country not listed in TWOSTEP_SMS_PRICES; in TWOSTEP_SMS_COUNTRY_BUDGETS it was taken
    too, and then limited no country at all (no destination is `*`). Now it stops the start."""
    with pytest.raises(ValidationError) as caught:
        settings_for_tests(tmp_path, sms_country_budgets="DE:5/50,*:2/10")
    assert describe_validation_error(caught.value).startswith("TWOSTEP_SMS_COUNTRY_BUDGETS: '*:2/10' is not")
    assert settings_for_tests(tmp_path, sms_prices="DE:0.09,*:0.2").sms_prices == ["DE:0.09", "*:0.2"]
