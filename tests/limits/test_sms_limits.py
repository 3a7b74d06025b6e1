"""Per-number cooldown and caps, the service-wide hourly budget, the country allow-list (clock advanced)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register, settings_for_tests
from tests.limits.helpers import assert_limited, outbox_count, send_code, us_number
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import DestinationNotAllowed, RateLimited, SmsDeliveryError
from twostep.storage.memory import MemoryStorage

MakeContainer = Callable[..., Container]


def refused(result: object, limit: str, retry_after: int) -> None:
    assert isinstance(result, RateLimited), result
    assert (result.limit, result.retry_after) == (limit, retry_after)


def test_cooldown_counts_down_and_lifts(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(resend_cooldown_seconds=30)
    assert isinstance(send_code(container, PHONE), str)
    refused(send_code(container, PHONE), "resend_cooldown", 30)
    clock.advance(12)
    refused(send_code(container, PHONE), "resend_cooldown", 18)
    clock.advance(18)
    assert isinstance(send_code(container, PHONE), str)
    assert outbox_count(container, PHONE) == 2


def test_cooldown_refusals_do_not_eat_the_per_number_cap(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    container = make_container(resend_cooldown_seconds=30, sms_per_number_10min=2)
    assert isinstance(send_code(container, PHONE), str)
    for _ in range(10):
        refused(send_code(container, PHONE), "resend_cooldown", 30)
    clock.advance(30)
    assert isinstance(send_code(container, PHONE), str)
    clock.advance(30)
    refused(send_code(container, PHONE), "sms_per_number_10min", 600 - 60)
    assert outbox_count(container, PHONE) == 2


def test_ten_minute_cap_then_next_window(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container()
    clock.advance(100)  # 12:01:40, the 10-minute window ends at 12:10:00
    for _ in range(5):
        assert isinstance(send_code(container, PHONE), str)
    refused(send_code(container, PHONE), "sms_per_number_10min", 500)
    clock.advance(499)
    refused(send_code(container, PHONE), "sms_per_number_10min", 1)
    clock.advance(1)
    assert isinstance(send_code(container, PHONE), str)
    assert outbox_count(container, PHONE) == 6


def test_daily_cap_holds_across_ten_minute_windows(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container()
    for _ in range(2):
        for _ in range(5):
            assert isinstance(send_code(container, PHONE), str)
        clock.advance(600)
    # 12:20 UTC: the day window ends at midnight UTC.
    refused(send_code(container, PHONE), "sms_per_number_day", 12 * 3600 - 1200)
    clock.advance(12 * 3600 - 1200)
    assert isinstance(send_code(container, PHONE), str)
    assert outbox_count(container, PHONE) == 11


def test_fixed_window_boundary_allows_at_most_twice_the_cap(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    """The documented cost of fixed windows: 5 just before and 5 just after 12:10, never more."""
    container = make_container()
    clock.advance(599)
    assert all(isinstance(send_code(container, PHONE), str) for _ in range(5))
    clock.advance(1)
    assert all(isinstance(send_code(container, PHONE), str) for _ in range(5))
    refused(send_code(container, PHONE), "sms_per_number_day", 12 * 3600 - 600)
    assert outbox_count(container, PHONE) == 10


def test_hourly_budget_is_a_hard_stop(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(sms_hourly_budget=3)
    clock.advance(15 * 60)
    for i in range(3):
        assert isinstance(send_code(container, us_number(i)), str)
    for i in range(3, 10):
        refused(send_code(container, us_number(i)), "sms_hourly_budget", 45 * 60)
    assert outbox_count(container) == 3
    clock.advance(45 * 60)
    assert isinstance(send_code(container, us_number(3)), str)


def test_zero_budget_sends_nothing_and_warns(
    make_container: MakeContainer, caplog: pytest.LogCaptureFixture
) -> None:
    container = make_container(sms_hourly_budget=0)
    with caplog.at_level(logging.WARNING, logger="twostep.limits"):
        refused(send_code(container, PHONE), "sms_hourly_budget", 3600)
    assert outbox_count(container) == 0
    assert [r.getMessage() for r in caplog.records] == ["sms hourly budget exhausted"]


def test_budget_refusal_gives_back_the_per_number_units(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    container = make_container(sms_hourly_budget=1, sms_per_number_10min=1)
    assert isinstance(send_code(container, us_number(1)), str)
    for _ in range(5):
        refused(send_code(container, us_number(2)), "sms_hourly_budget", 3600)
    clock.advance(3600)
    # Number 2's cap of 1 per 10 minutes was not eaten by the five refused sends.
    assert isinstance(send_code(container, us_number(2)), str)


def test_per_number_refusal_does_not_consume_the_budget(make_container: MakeContainer) -> None:
    container = make_container(sms_hourly_budget=6)
    for _ in range(5):
        assert isinstance(send_code(container, PHONE), str)
    for _ in range(20):
        refused(send_code(container, PHONE), "sms_per_number_10min", 600)
    assert isinstance(send_code(container, us_number(1)), str)  # the 6th unit is still there
    refused(send_code(container, us_number(2)), "sms_hourly_budget", 3600)
    assert outbox_count(container) == 6


class FailingSender:
    name = "failing"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, to: str, body: str) -> str:
        self.calls += 1
        raise SmsDeliveryError("provider_error", provider=self.name)


def test_failed_delivery_keeps_its_units(tmp_path: Path, clock: FixedClock) -> None:
    """An admitted send counts even if the provider then failed: it may have charged for it."""
    sender = FailingSender()
    settings = settings_for_tests(tmp_path, sms_hourly_budget=2)
    container = build(settings, clock=clock, storage=MemoryStorage(), sender=sender)
    for i in range(2):
        with pytest.raises(SmsDeliveryError):
            send_code(container, us_number(i))
    refused(send_code(container, us_number(3)), "sms_hourly_budget", 3600)
    assert sender.calls == 2


def test_country_allow_list(make_container: MakeContainer) -> None:
    container = make_container(sms_allowed_countries="de,us")
    assert container.limits.policy.sms_allowed_countries == ("DE", "US")
    with pytest.raises(DestinationNotAllowed):
        container.limits.reserve_sms(PHONE)  # Turkey
    assert isinstance(send_code(container, "+4915112345600"), str)
    assert isinstance(send_code(container, us_number(1)), str)
    audit = container.audit.tail()
    assert audit[0].event == "limit_hit" and audit[0].detail == {"limit": "country_not_allowed"}
    assert audit[0].phone_masked == "+90********55"


def test_country_refused_at_registration_with_422(make_container: MakeContainer) -> None:
    container = make_container(sms_allowed_countries="DE")
    with TestClient(create_app(container)) as client:
        response = client.post(
            "/register",
            json={
                "firstName": "A",
                "lastName": "B",
                "email": "a@example.com",
                "password": PASSWORD,
                "phoneNumber": PHONE,
            },
        )
        assert response.status_code == 422, response.text
        body = response.json()
        assert (body["code"], body["field"]) == ("destination_not_allowed", "phoneNumber")
        register(client, email="b@example.com", phone="+4915112345600")


def test_disallowed_country_at_login_is_422_and_sends_nothing(tmp_path: Path, clock: FixedClock) -> None:
    """A user registered before the allow-list changed: login answers 422, nothing is texted."""
    storage = MemoryStorage()
    open_settings = settings_for_tests(tmp_path)
    with TestClient(create_app(build(open_settings, clock=clock, storage=storage))) as client:
        register(client)
    strict = build(settings_for_tests(tmp_path, sms_allowed_countries="DE"), clock=clock, storage=storage)
    with TestClient(create_app(strict)) as client:
        response = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert response.status_code == 422 and response.json()["code"] == "destination_not_allowed"
    assert outbox_count(strict) == 0


def test_api_answers_carry_retry_after(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(resend_cooldown_seconds=30)
    with TestClient(create_app(container)) as client:
        register(client)
        first = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
        assert first.status_code == 200
        otp_id = first.json()["otpId"]
        clock.advance(5)
        assert_limited(client.post(f"/otp/{otp_id}/resend"), "resend_cooldown", 25)
        again = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
        assert_limited(again, "resend_cooldown", 25)
        clock.advance(25)
        assert client.post(f"/otp/{otp_id}/resend").status_code == 202
        for _ in range(3):
            clock.advance(30)
            assert client.post(f"/otp/{otp_id}/resend").status_code == 202
        clock.advance(30)  # 12:02:30: five sends so far in this 10-minute window
        assert_limited(client.post(f"/otp/{otp_id}/resend"), "sms_per_number_10min", 450)
    assert outbox_count(container, PHONE) == 5


def test_verification_api_refuses_a_disallowed_country_with_422(
    make_container: MakeContainer,
) -> None:
    from twostep.api.verification_app import create_verification_app

    container = make_container(sms_allowed_countries="DE")
    with TestClient(create_verification_app(container)) as client:
        refused_create = client.post("/", json={"auth_id": "order-1", "recipient": PHONE})
        # Flowroute's shape, with a status and reason of its own (issue 12) and twostep's stable code.
        assert refused_create.status_code == 422, refused_create.text
        assert refused_create.json()["reason"] == "DestinationNotAllowed"
        assert refused_create.json()["code"] == "destination_not_allowed"
        ok = client.post("/", json={"auth_id": "order-2", "recipient": "+4915112345600"})
        assert ok.status_code == 200, ok.text
    assert outbox_count(container) == 1


def verification_refused(response: httpx.Response) -> tuple[str, str]:
    """A verification API 429 (Flowroute's shape): the limit its RateLimit-Policy names, and Retry-After."""
    assert response.status_code == 429, response.text
    assert response.json()["reason"] == "RateLimited"
    return response.headers["ratelimit-policy"].split(";")[0].strip('"'), response.headers["retry-after"]


def test_a_number_s_cooldown_tells_no_other_caller_when_it_was_texted(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    """Before, the cooldown was one counter per number: a stranger's verification for the owner's number
    12 s after the owner signed in answered 429 resend_cooldown with Retry-After 18, telling them a code
    had gone to it, and when. Now each caller has its own cooldown; the number's caps stay shared."""
    container = make_container(resend_cooldown_seconds=30, sms_per_number_10min=3)
    app = create_app(container)
    owner, prober = (
        TestClient(app, client=("198.51.100.9", 5000)),
        TestClient(app, client=("203.0.113.7", 5000)),
    )
    with owner, prober:
        register(owner)
        clock.advance(60)
        signing_in = owner.post("/login", json={"email": "test@example.com", "password": PASSWORD})
        assert signing_in.status_code == 200, signing_in.text
        clock.advance(12)
        probe = prober.post("/verifications", json={"auth_id": "probe-1", "recipient": PHONE})
        assert probe.status_code == 200, probe.text  # the same answer as for a number nobody texted
        again = prober.post("/verifications", json={"auth_id": "probe-1", "recipient": PHONE})
        assert verification_refused(again) == ("resend_cooldown", "30")  # its own asking again is paced
        resend = owner.post(f"/otp/{signing_in.json()['otpId']}/resend")
        assert_limited(resend, "resend_cooldown", 18)  # and the owner's, by the owner's own text only
        clock.advance(30)
        assert (
            prober.post("/verifications", json={"auth_id": "probe-2", "recipient": PHONE}).status_code == 200
        )
        with TestClient(app, client=("192.0.2.1", 5000)) as third:
            capped = third.post("/verifications", json={"auth_id": "probe-3", "recipient": PHONE})
            assert verification_refused(capped)[0] == "sms_per_number_10min"  # shared by every caller
    assert outbox_count(container, PHONE) == 3
