"""A sign-in whose text cannot go out (every SMS provider down, the number's caps reached, its prefix
blocked by the fraud guard), in process on memory, SQLite and PostgreSQL storage with a Twilio stand-in on
loopback: an account that has another factor (recovery codes, a passkey) still gets a challenge it can
finish with it, and asks for its text again once texts go out; the wrong-code budget, an administrator's
lock and an account with SMS only answer the refusal as before, and the password's counts settle exactly
once."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.factors.soft_authenticator import SoftAuthenticator
from tests.factors.test_passkeys_api import ORIGIN, add_passkey, passkey_step
from tests.sms.conftest import sms_settings
from tests.sms.provider_server import ProviderServer, Reply
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.numbers import destination_prefix
from twostep.domain.ports import PrefixBlock
from twostep.services.limits import login_failures_key
from twostep.sms.http import timeout_for
from twostep.storage.memory import MemoryStorage

EMAIL = "cem@example.com"
PASSWORD = "correct horse battery staple"
PHONE = "+12065551234"
TWILIO_OK = Reply.json(201, {"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"})
TWILIO_DOWN = Reply.json(
    500, {"code": 20500, "message": "An internal server error has occurred", "status": 500}
)
WRONG_CODES_ALLOWED = 3

App = tuple[TestClient, Container, ProviderServer]


@pytest.fixture
def twilio() -> Iterator[ProviderServer]:
    server = ProviderServer(default=TWILIO_OK).start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_app(
    request: pytest.FixtureRequest, tmp_path: Path, twilio: ProviderServer
) -> Iterator[Callable[..., App]]:
    """A service texting through the Twilio stand-in, on the storage of the test's parameter."""
    built: list[tuple[TestClient, Container]] = []
    http = httpx.Client(timeout=timeout_for(sms_settings(tmp_path)), trust_env=False)

    where = {"database_url": request.getfixturevalue("postgres_url")} if request.param == "postgres" else {}

    def make(**overrides: Any) -> App:
        settings = sms_settings(
            tmp_path,
            storage=request.param,
            sms_providers=["twilio"],
            twilio_base_url=twilio.url,
            otp_account_failure_limit=WRONG_CODES_ALLOWED,
            **where,
            **overrides,
        )
        storage = MemoryStorage() if request.param == "memory" else None
        container = build(settings, storage=storage, clock=FixedClock(), http=http)
        client = TestClient(create_app(container)).__enter__()
        built.append((client, container))
        return client, container, twilio

    yield make
    for client, container in built:
        client.__exit__(None, None, None)
        container.close()
    http.close()


def texted_code(twilio: ProviderServer) -> str:
    body = parse_qs(twilio.requests[-1].body.decode())["Body"][0]
    match = re.search(r"\b(\d{4,10})\b", body)
    assert match is not None
    return match.group(1)


def login(client: TestClient) -> httpx.Response:
    return client.post("/login", json={"email": EMAIL, "password": PASSWORD})


def signed_up(app: App, *, recovery_codes: bool) -> list[str]:
    """An account with SMS (its number proven by a first sign-in), and recovery codes when asked."""
    client, _, twilio = app
    body = {
        "firstName": "Cem",
        "lastName": "Onan",
        "email": EMAIL,
        "password": PASSWORD,
        "phoneNumber": PHONE,
    }
    assert client.post("/register", json=body).status_code == 201
    started = login(client)
    assert started.status_code == 200, started.text
    verified = client.post(f"/otp/{started.json()['otpId']}/verify", json={"otp": texted_code(twilio)})
    assert verified.status_code == 200, verified.text
    if not recovery_codes:
        return []
    bearer = {"Authorization": f"Bearer {verified.json()['accessToken']}"}
    made = client.post("/me/factors/recovery-codes", json={"currentPassword": PASSWORD}, headers=bearer)
    assert made.status_code == 200, made.text
    return list(made.json()["recoveryCodes"])


def password_counts_settled(container: Container) -> bool:
    """The right password gave back exactly the unit its attempt took from the account-wide failures:
    none left over (never settled), none given back twice (settled twice)."""
    key = login_failures_key(EMAIL)
    found = container.storage.get_counters([key], container.clock.now())
    return key not in found or found[key].value == 0


def events(container: Container, name: str) -> list[dict[str, str]]:
    return [dict(event.detail) for event in container.storage.list_audit(limit=200) if event.event == name]


def test_provider_down_offers_the_recovery_codes_and_the_text_can_be_asked_again(
    make_app: Callable[..., App], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    client, container, twilio = app
    codes = signed_up(app, recovery_codes=True)
    twilio.always(TWILIO_DOWN)

    with caplog.at_level(logging.WARNING, logger="twostep"):
        started = login(client)

    assert started.status_code == 200, started.text
    answer = started.json()
    assert answer["expectedFactor"] == "recovery"
    assert answer["smsUnavailable"] == "failed"
    assert answer["factors"] == ["sms", "recovery"]
    assert answer["destination"] == "+1********34"
    assert password_counts_settled(container)
    assert events(container, "login_code_not_sent") == [
        {"reason": "failed", "cause": "sms_delivery_failed", "offered": "recovery"}
    ]
    assert "sms not sent" in [record.getMessage() for record in caplog.records]  # the cause, logged
    for record in caplog.records:
        assert PHONE[2:] not in repr(record.__dict__) and PASSWORD not in repr(record.__dict__)

    # Once texts go out again, the same login's code can be asked for and used.
    twilio.always(TWILIO_OK)
    resent = client.post(f"/otp/{answer['otpId']}/resend")
    assert resent.status_code == 202, resent.text
    signed = client.post(f"/otp/{answer['otpId']}/verify", json={"otp": texted_code(twilio), "factor": "sms"})
    assert signed.status_code == 200, signed.text

    # Or, still down, a recovery code finishes the sign-in.
    twilio.always(TWILIO_DOWN)
    again = login(client).json()
    signed = client.post(f"/otp/{again['otpId']}/verify", json={"otp": codes[0], "factor": "recovery"})
    assert signed.status_code == 200, signed.text


def test_the_numbers_caps_reached_offer_the_recovery_codes_until_they_lift(
    make_app: Callable[..., App],
) -> None:
    app = make_app(sms_per_number_10min=2, sms_per_number_day=2)
    client, container, twilio = app
    codes = signed_up(app, recovery_codes=True)
    assert login(client).status_code == 200  # the second text today: the number's caps are reached
    sent = len(twilio.requests)

    started = login(client)

    assert started.status_code == 200, started.text
    answer = started.json()
    assert (answer["expectedFactor"], answer["smsUnavailable"]) == ("recovery", "limited")
    # The day's cap lifts long after this challenge ends: its text cannot be asked for before.
    assert datetime.fromisoformat(answer["resendAfter"]) > datetime.fromisoformat(answer["expiresAt"])
    assert len(twilio.requests) == sent
    assert password_counts_settled(container)
    assert events(container, "login_code_not_sent")[0]["cause"] == "sms_per_number_day"
    refused = client.post(f"/otp/{answer['otpId']}/resend")  # the caps still hold for the text
    assert refused.status_code == 429 and refused.json()["limit"] == "sms_per_number_day"
    signed = client.post(f"/otp/{answer['otpId']}/verify", json={"otp": codes[0], "factor": "recovery"})
    assert signed.status_code == 200, signed.text


def test_a_spent_wrong_code_budget_still_refuses_with_the_text_failing(make_app: Callable[..., App]) -> None:
    app = make_app()
    client, container, twilio = app
    signed_up(app, recovery_codes=True)
    started = login(client).json()
    code = texted_code(twilio)
    for wrong in range(1, WRONG_CODES_ALLOWED + 1):
        otp = str((int(code) + wrong) % 10 ** len(code)).zfill(len(code))
        answer = client.post(f"/otp/{started['otpId']}/verify", json={"otp": otp})
        assert answer.status_code in (401, 429), answer.text
    for provider in (TWILIO_DOWN, TWILIO_OK):
        twilio.always(provider)
        sent = len(twilio.requests)

        refused = login(client)

        assert refused.status_code == 429, refused.text
        assert refused.json()["limit"] == "second_factor_locked"
        assert "otpId" not in refused.json()
        assert len(twilio.requests) == sent
        assert password_counts_settled(container)
    assert events(container, "login_code_not_sent") == []


def test_an_account_locked_by_its_administrator_is_refused_with_the_text_failing(
    make_app: Callable[..., App],
) -> None:
    app = make_app()
    client, container, twilio = app
    signed_up(app, recovery_codes=True)
    user = container.storage.find_user_by_email(EMAIL)
    assert user is not None
    container.account.lock(user.id)
    twilio.always(TWILIO_DOWN)

    refused = login(client)

    assert refused.status_code == 403 and refused.json()["code"] == "account_locked", refused.text
    assert password_counts_settled(container)
    assert events(container, "login_code_not_sent") == []


def test_an_account_with_sms_only_is_refused_as_before(make_app: Callable[..., App]) -> None:
    app = make_app(sms_per_number_10min=2, sms_per_number_day=2)
    client, container, twilio = app
    signed_up(app, recovery_codes=False)
    twilio.always(TWILIO_DOWN)

    down = login(client)

    assert down.status_code == 503 and down.json()["code"] == "sms_delivery_failed", down.text
    assert password_counts_settled(container)
    twilio.always(TWILIO_OK)
    capped = login(client)  # the failed text counted: the number's day cap of 2 is reached
    assert capped.status_code == 429 and capped.json()["limit"] == "sms_per_number_day", capped.text
    assert password_counts_settled(container)
    assert events(container, "login_code_not_sent") == []


def test_an_account_with_a_passkey_and_no_recovery_codes_is_offered_the_passkey(
    make_app: Callable[..., App],
) -> None:
    app = make_app(sms_per_number_10min=2, sms_per_number_day=2)
    client, container, twilio = app
    signed_up(app, recovery_codes=False)
    started = login(client)
    tokens = client.post(f"/otp/{started.json()['otpId']}/verify", json={"otp": texted_code(twilio)}).json()
    device = SoftAuthenticator(ORIGIN)
    assert add_passkey(client, tokens, device).status_code == 201  # the number's day cap is reached now

    capped = login(client)

    assert capped.status_code == 200, capped.text
    answer = capped.json()
    assert (answer["expectedFactor"], answer["smsUnavailable"]) == ("passkey", "limited")
    assert answer["factors"] == ["passkey", "sms"]
    assert password_counts_settled(container)
    signed = passkey_step(client, answer["otpId"], device)
    assert signed.status_code == 200, signed.text
    assert signed.json()["amr"] == ["pwd", "hwk"]


def test_a_prefix_blocked_by_the_fraud_guard_offers_the_recovery_codes(make_app: Callable[..., App]) -> None:
    app = make_app(fraud_guard=True)
    client, container, twilio = app
    codes = signed_up(app, recovery_codes=True)
    now = container.clock.now()
    block = PrefixBlock(destination_prefix(PHONE), now, now + timedelta(hours=1), 40, 0)
    container.storage.add_prefix_block(block)
    sent = len(twilio.requests)

    started = login(client)

    assert started.status_code == 200, started.text
    answer = started.json()
    assert (answer["expectedFactor"], answer["smsUnavailable"]) == ("recovery", "limited")
    assert len(twilio.requests) == sent
    assert password_counts_settled(container)
    assert events(container, "login_code_not_sent")[0]["cause"] == "destination_blocked"
    signed = client.post(f"/otp/{answer['otpId']}/verify", json={"otp": codes[0], "factor": "recovery"})
    assert signed.status_code == 200, signed.text


def test_a_device_no_longer_remembered_is_offered_the_recovery_codes_too(
    make_app: Callable[..., App],
) -> None:
    """A browser keeps its device cookie after the device was forgotten (or its days ran out): its sign-in
    checks the token, then takes the second step like any other, and must fall back the same way."""
    app = make_app()
    client, container, twilio = app
    codes = signed_up(app, recovery_codes=True)
    twilio.always(TWILIO_DOWN)

    started = client.post(
        "/login", json={"email": EMAIL, "password": PASSWORD, "deviceToken": "a-device-forgotten-since"}
    )

    assert started.status_code == 200, started.text
    answer = started.json()
    assert (answer["expectedFactor"], answer["smsUnavailable"]) == ("recovery", "failed")
    assert password_counts_settled(container)
    signed = client.post(f"/otp/{answer['otpId']}/verify", json={"otp": codes[0], "factor": "recovery"})
    assert signed.status_code == 200, signed.text


def test_a_spent_money_budget_offers_the_recovery_codes_and_is_logged(
    make_app: Callable[..., App], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(sms_prices="US:1", sms_budget_hourly_usd=1)  # the first sign-in's text spends it
    client, container, twilio = app
    codes = signed_up(app, recovery_codes=True)
    sent = len(twilio.requests)

    with caplog.at_level(logging.WARNING, logger="twostep"):
        started = login(client)

    assert started.status_code == 200, started.text
    answer = started.json()
    assert (answer["expectedFactor"], answer["smsUnavailable"]) == ("recovery", "failed")
    assert len(twilio.requests) == sent
    assert password_counts_settled(container)
    assert events(container, "login_code_not_sent")[0]["cause"] == "sms_budget_exhausted"
    (alert,) = [record for record in caplog.records if record.getMessage() == "dependency unavailable"]
    assert alert.__dict__["code"] == "sms_budget_exhausted"
    signed = client.post(f"/otp/{answer['otpId']}/verify", json={"otp": codes[0], "factor": "recovery"})
    assert signed.status_code == 200, signed.text
