"""A sign-in's counters go in few storage requests; what those requests decide stays as before: a locked
account, spent wrong codes, a blocked prefix and a spent cap each refuse with nothing left half-counted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.conftest import PASSWORD, PHONE, latest_code
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import AccountLocked, DestinationBlocked, RateLimited
from twostep.domain.models import RequestContext
from twostep.domain.numbers import destination_prefix
from twostep.domain.ports import PrefixBlock
from twostep.services.limits import code_failures_key, login_failures_key
from twostep.services.registration import Registration

MakeContainer = Callable[..., Container]
EMAIL = "counted@example.com"
CTX = RequestContext(ip="198.51.100.7")


def _user_id(container: Container) -> str:
    user = container.registration.register(
        Registration(email=EMAIL, password=PASSWORD, first_name="A", last_name="B", phone=PHONE)
    )
    return user.id


def _failures(container: Container, subject: str) -> int:
    live = container.storage.get_counter(login_failures_key(subject), container.clock.now())
    return live.value if live else 0


def test_a_locked_account_is_refused_at_the_password_and_its_counts_settle(
    make_container: MakeContainer,
) -> None:
    container = make_container()
    user_id = _user_id(container)
    container.account.lock(user_id)
    with pytest.raises(AccountLocked):
        container.login.start(EMAIL, PASSWORD, CTX)
    # The right password still settled its counts: no failure of this client, none account-wide.
    assert _failures(container, f"{EMAIL}|198.51.100.0/24") == 0
    assert _failures(container, EMAIL) == 0
    assert container.storage.list_outbox(to=PHONE) == []


def test_spent_wrong_codes_refuse_the_code_at_the_password(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    container = make_container(otp_account_failure_limit=3)
    user_id = _user_id(container)
    container.storage.increment_counter(
        code_failures_key(user_id), 3, clock.now(), clock.now() + timedelta(days=1)
    )
    with pytest.raises(RateLimited) as refused:
        container.login.start(EMAIL, PASSWORD, CTX)
    assert refused.value.limit == "second_factor_locked"
    assert _failures(container, EMAIL) == 0
    assert container.storage.list_outbox(to=PHONE) == []


def test_a_lock_set_after_the_code_went_out_refuses_the_right_code(make_container: MakeContainer) -> None:
    container = make_container()
    user_id = _user_id(container)
    started = container.login.start(EMAIL, PASSWORD, CTX)
    container.account.lock(user_id)
    failures_before = container.storage.get_counter(code_failures_key(user_id), container.clock.now())
    with pytest.raises(AccountLocked):
        container.login.complete(started.otp_id, latest_code(container), CTX)  # type: ignore[union-attr]
    assert container.storage.list_sessions(user_id, container.clock.now()) == []
    # A right code is no wrong one: the refused attempt gives back the unit it took from the count.
    failures = container.storage.get_counter(code_failures_key(user_id), container.clock.now())
    assert (failures.value if failures else 0) == (failures_before.value if failures_before else 0)


def test_a_blocked_prefix_takes_no_unit_of_any_cap(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(sms_per_number_day=1, fraud_guard=True)
    _user_id(container)
    now = clock.now()
    container.storage.add_prefix_block(
        PrefixBlock(destination_prefix(PHONE), now, now + timedelta(hours=1), 40, 0)
    )
    with pytest.raises(DestinationBlocked):
        container.login.start(EMAIL, PASSWORD, CTX)
    container.fraud.unblock(destination_prefix(PHONE))
    container.login.start(EMAIL, PASSWORD, CTX)  # the day's one text was not spent by the refusal
    with pytest.raises(RateLimited) as capped:
        container.login.start(EMAIL, PASSWORD, CTX)
    assert capped.value.limit == "sms_per_number_day"
