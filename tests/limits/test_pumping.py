"""End to end over HTTP: an SMS-pumping burst sends no more messages than the limits allow."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register
from tests.limits.helpers import assert_limited, outbox_count, us_number
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import RateLimited
from twostep.domain.models import RequestContext

MakeContainer = Callable[..., Container]
LOGIN = {"email": "test@example.com", "password": PASSWORD}


def test_hundred_logins_for_one_number(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(resend_cooldown_seconds=30)
    with TestClient(create_app(container)) as client:
        register(client)
        burst = [client.post("/login", json=LOGIN) for _ in range(100)]
        assert outbox_count(container, PHONE) == 1  # the cooldown
        assert [r.status_code for r in burst].count(200) == 1
        for response in burst[1:]:  # the cooldown, then the per-IP login rate (60 a minute)
            assert_limited(response, response.json()["limit"])
        assert {r.json()["limit"] for r in burst[1:]} == {"resend_cooldown", "ip_login_rate"}
        clock.advance(30)
        spaced: Counter[str] = Counter()
        for _ in range(100):  # an attacker who waits out the cooldown each time
            response = client.post("/login", json=LOGIN)
            spaced[
                str(response.status_code) if response.status_code == 200 else response.json()["limit"]
            ] += 1
            if response.status_code == 429:
                assert_limited(response, response.json()["limit"])
            clock.advance(31)
    assert outbox_count(container, PHONE) == 10  # the daily cap, whatever the spacing
    assert spaced["200"] == 9
    assert spaced["sms_per_number_10min"] > 0 and spaced["sms_per_number_day"] > 0


def test_hundred_accounts_hit_the_hourly_budget(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(
        sms_hourly_budget=25, ip_register_per_hour=1000, ip_login_per_minute=1000, resend_cooldown_seconds=30
    )
    with TestClient(create_app(container)) as client:
        for i in range(100):
            register(client, email=f"user{i}@example.com", phone=us_number(i))
        clock.advance(10 * 60)
        answers = [
            client.post("/login", json={"email": f"user{i}@example.com", "password": PASSWORD})
            for i in range(100)
        ]
        assert [a.status_code for a in answers].count(200) == 25
        for answer in answers:
            if answer.status_code != 200:
                assert_limited(answer, "sms_hourly_budget", 50 * 60)
        assert outbox_count(container) == 25
        refused = [i for i, a in enumerate(answers) if a.status_code != 200]
        clock.advance(50 * 60)  # the next hour: sending resumes, the budget again exactly 25
        again = [
            client.post("/login", json={"email": f"user{i}@example.com", "password": PASSWORD})
            for i in refused[:30]
        ]
        assert [a.status_code for a in again].count(200) == 25
    assert outbox_count(container) == 50
    assert len({e.to for e in container.storage.list_outbox(last=1000)}) == 50


def test_registration_per_ip(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(ip_register_per_hour=3)
    with TestClient(create_app(container)) as client:
        for i in range(3):
            register(client, email=f"user{i}@example.com", phone=us_number(i))
        refused = client.post(
            "/register",
            json={
                "firstName": "A",
                "lastName": "B",
                "email": "x@example.com",
                "password": PASSWORD,
                "phoneNumber": us_number(9),
            },
        )
        assert_limited(refused, "ip_register_rate", 3600)
        clock.advance(3600)
        register(client, email="x@example.com", phone=us_number(9))


def test_verification_create_per_ip(make_container: MakeContainer) -> None:
    container = make_container(ip_verify_create_per_hour=2)
    ctx = RequestContext(ip="192.0.2.1")
    container.limits.check_ip("verification_create", ctx)
    container.limits.check_ip("verification_create", ctx)
    with pytest.raises(RateLimited) as refused:
        container.limits.check_ip("verification_create", ctx)
    assert (refused.value.limit, refused.value.retry_after) == ("ip_verification_create_rate", 3600)
    container.limits.check_ip("verification_create", RequestContext(ip="192.0.2.2"))
