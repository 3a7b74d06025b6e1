"""Counters under races, on both local storages: caps and the hourly budget hold exactly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import PASSWORD, PHONE
from tests.limits.helpers import limits_of, outbox_count, run_together, send_code, us_number
from twostep.container import Container
from twostep.services.login import LoginStarted
from twostep.services.registration import Registration

MakeContainer = Callable[..., Container]
STORAGES = ["memory", "sqlite"]
PER_NUMBER = {"sms_per_number_10min", "sms_per_number_day"}


@pytest.mark.parametrize("storage", STORAGES)
def test_fifty_sends_to_one_number_stop_at_the_cap(make_container: MakeContainer, storage: str) -> None:
    container = make_container(storage=storage)
    results = run_together(50, lambda _: send_code(container, PHONE))
    assert outbox_count(container, PHONE) == 5
    assert sum(isinstance(r, str) for r in results) == 5
    # Under a race a refused caller may see the day cap before its own unit is given back; either way
    # it is a per-number cap that refuses, and nothing beyond the cap goes out.
    assert len(limits_of(results)) == 45
    assert set(limits_of(results)) <= PER_NUMBER


@pytest.mark.parametrize("storage", STORAGES)
def test_fifty_sends_with_a_cooldown_send_one(make_container: MakeContainer, storage: str) -> None:
    container = make_container(storage=storage, resend_cooldown_seconds=30)
    results = run_together(50, lambda _: send_code(container, PHONE))
    assert outbox_count(container, PHONE) == 1
    assert len(limits_of(results)) == 49
    assert set(limits_of(results)) <= PER_NUMBER | {"resend_cooldown"}


@pytest.mark.parametrize("storage", STORAGES)
def test_hourly_budget_holds_exactly_under_concurrency(make_container: MakeContainer, storage: str) -> None:
    container = make_container(storage=storage, sms_hourly_budget=20)
    results = run_together(50, lambda i: send_code(container, us_number(i)))
    assert outbox_count(container) == 20
    assert limits_of(results) == ["sms_hourly_budget"] * 30
    # Refused sends gave their per-number units back: each refused number can still be texted later.
    counters = container.storage
    refused_numbers = [us_number(i) for i, r in enumerate(results) if not isinstance(r, str)]
    for number in refused_numbers:
        live = [
            counters.get_counter(f"sms:{number}@{w}:{s}", container.clock.now())
            for w, s in ((600, _start(container, 600)), (86400, _start(container, 86400)))
        ]
        assert all(c is None or c.value == 0 for c in live)


def _start(container: Container, window: int) -> int:
    return int(container.clock.now().timestamp()) // window * window


@pytest.mark.parametrize("storage", STORAGES)
def test_fifty_logins_for_one_number(make_container: MakeContainer, storage: str) -> None:
    """50 concurrent right-password logins of one account: never more SMS than the per-number cap."""
    container = make_container(storage=storage, login_free_failures=100)
    container.registration.register(
        Registration(email="a@example.com", password=PASSWORD, first_name="A", last_name="B", phone=PHONE)
    )
    results = run_together(50, lambda _: container.login.start("a@example.com", PASSWORD))
    assert sum(isinstance(r, LoginStarted) for r in results) == 5
    assert len(limits_of(results)) == 45
    assert set(limits_of(results)) <= PER_NUMBER
    assert outbox_count(container, PHONE) == 5
