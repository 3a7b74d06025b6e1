"""A sign-in's counters go in few storage requests; what those requests decide stays as before: a locked
account, spent wrong codes, a blocked prefix and a spent cap each refuse with nothing left half-counted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.conftest import PASSWORD, PHONE, latest_code
from tests.limits.helpers import login_failures, register_with_phone
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import (
    AccountLocked,
    ChallengeNotFound,
    DestinationBlocked,
    RateLimited,
    WrongCode,
)
from twostep.domain.models import RequestContext
from twostep.domain.numbers import destination_prefix
from twostep.domain.ports import PrefixBlock
from twostep.services.limits import code_failures_key

MakeContainer = Callable[..., Container]
EMAIL = "counted@example.com"
CTX = RequestContext(ip="198.51.100.7")


def test_a_locked_account_is_refused_at_the_password_and_its_counts_settle(
    make_container: MakeContainer,
) -> None:
    container = make_container()
    user_id = register_with_phone(container, EMAIL)
    container.account.lock(user_id)
    with pytest.raises(AccountLocked):
        container.login.start(EMAIL, PASSWORD, CTX)
    # The right password still settled its counts: no failure of this client, none account-wide.
    assert login_failures(container, f"{EMAIL}|198.51.100.0/24") == 0
    assert login_failures(container, EMAIL) == 0
    assert container.storage.list_outbox(to=PHONE) == []


def test_spent_wrong_codes_refuse_the_code_at_the_password(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    container = make_container(otp_account_failure_limit=3)
    user_id = register_with_phone(container, EMAIL)
    container.storage.increment_counter(
        code_failures_key(user_id), 3, clock.now(), clock.now() + timedelta(days=1)
    )
    with pytest.raises(RateLimited) as refused:
        container.login.start(EMAIL, PASSWORD, CTX)
    assert refused.value.limit == "second_factor_locked"
    assert login_failures(container, EMAIL) == 0
    assert container.storage.list_outbox(to=PHONE) == []


def test_a_lock_set_after_the_code_went_out_refuses_the_right_code(make_container: MakeContainer) -> None:
    container = make_container()
    user_id = register_with_phone(container, EMAIL)
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
    register_with_phone(container, EMAIL)
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


def test_a_right_code_takes_nothing_from_the_wrong_code_count(make_container: MakeContainer) -> None:
    """A code that matches the challenge as read is not counted up front: its one counter request
    checks the lock and the budget and resets the count; what it decides is as before."""
    container = make_container(otp_account_failure_limit=3)
    user_id = register_with_phone(container, EMAIL)
    started = container.login.start(EMAIL, PASSWORD, CTX)
    code = latest_code(container)
    container.storage.increment_counter(
        code_failures_key(user_id), 2, container.clock.now(), container.clock.now() + timedelta(days=1)
    )
    container.login.complete(started.otp_id, code, CTX)  # type: ignore[union-attr]
    assert container.storage.get_counter(code_failures_key(user_id), container.clock.now()) is None


def test_a_right_code_is_refused_once_wrong_codes_spent_the_budget_after_it_went_out(
    make_container: MakeContainer,
) -> None:
    container = make_container(otp_account_failure_limit=3)
    user_id = register_with_phone(container, EMAIL)
    started = container.login.start(EMAIL, PASSWORD, CTX)
    container.storage.increment_counter(  # wrong codes of other sign-ins, after this code went out
        code_failures_key(user_id), 3, container.clock.now(), container.clock.now() + timedelta(days=1)
    )
    with pytest.raises(RateLimited) as refused:
        container.login.complete(started.otp_id, latest_code(container), CTX)  # type: ignore[union-attr]
    assert refused.value.limit == "second_factor_locked"
    assert container.storage.list_sessions(user_id, container.clock.now()) == []
    failures = container.storage.get_counter(code_failures_key(user_id), container.clock.now())
    assert failures is not None and failures.value == 3  # nothing reset, nothing taken


def test_a_code_replaced_between_the_read_and_the_check_counts_as_a_wrong_one(
    make_container: MakeContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first code was right when the challenge was read; a resend replaced it before the check:
    it is a wrong code, counted like one."""
    container = make_container(resend_cooldown_seconds=0)
    user_id = register_with_phone(container, EMAIL)
    started = container.login.start(EMAIL, PASSWORD, CTX)
    first = latest_code(container)
    read = container.storage.get_challenge(started.otp_id)  # type: ignore[union-attr]
    container.login.resend(started.otp_id, CTX)  # type: ignore[union-attr]
    monkeypatch.setattr(container.storage, "get_challenge", lambda _id: read)  # the read before the resend
    with pytest.raises(WrongCode):
        container.login.complete(started.otp_id, first, CTX)  # type: ignore[union-attr]
    failures = container.storage.get_counter(code_failures_key(user_id), container.clock.now())
    assert failures is not None and failures.value == 1
    events = [e.event for e in container.audit.tail(user_id=user_id, limit=50)]
    assert events.count("code_failed") == 1
    monkeypatch.undo()
    container.login.complete(started.otp_id, latest_code(container), CTX)  # type: ignore[union-attr]


def test_an_account_deleted_between_the_password_and_the_code_signs_nobody_in(
    make_container: MakeContainer,
) -> None:
    """The verify step reads the account with its challenge, as it is then: a deleted one is gone."""
    container = make_container()
    user_id = register_with_phone(container, EMAIL)
    started = container.login.start(EMAIL, PASSWORD, CTX)
    code = latest_code(container)
    assert container.storage.delete_user(user_id, container.clock.now())
    with pytest.raises(ChallengeNotFound):
        container.login.complete(started.otp_id, code, CTX)  # type: ignore[union-attr]
    assert container.storage.list_sessions(user_id, container.clock.now()) == []


def _second_sign_in(container: Container) -> tuple[str, str]:
    """A registered account whose number its first sign-in proved (later sign-ins take the short way),
    and the password step of its second sign-in: the account's id and the sign-in's `otp_id`."""
    user_id = register_with_phone(container, EMAIL)
    first = container.login.start(EMAIL, PASSWORD, CTX)
    container.login.complete(first.otp_id, latest_code(container), CTX)  # type: ignore[union-attr]
    second = container.login.start(EMAIL, PASSWORD, CTX)
    return user_id, second.otp_id  # type: ignore[union-attr]


def _attempt_writes(container: Container, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the challenge writes a code check makes on its own (not with the session)."""
    calls: list[str] = []

    def recorded(name: str) -> Callable[..., object]:
        method = getattr(container.storage, name)

        def call(*args: object, **kwargs: object) -> object:
            calls.append(name)
            return method(*args, **kwargs)

        return call

    for name in ("attempt_challenge", "consume_challenge"):
        monkeypatch.setattr(container.storage, name, recorded(name))
    return calls


def test_a_right_code_of_a_proven_number_is_used_in_the_session_s_request(
    make_container: MakeContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container()
    user_id, otp_id = _second_sign_in(container)
    writes = _attempt_writes(container, monkeypatch)
    container.login.complete(otp_id, latest_code(container), CTX)
    assert writes == []
    used = container.storage.get_challenge(otp_id)
    assert used is not None and used.consumed_at is not None and used.attempts == 1
    assert len(container.storage.list_sessions(user_id, container.clock.now())) == 2
    events = [e.event for e in container.audit.tail(user_id=user_id, limit=50)]
    assert events.count("login_succeeded") == 2 and events.count("code_verified") == 2


def test_a_lock_refuses_the_right_code_of_a_proven_number_as_before(
    make_container: MakeContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container()
    user_id, otp_id = _second_sign_in(container)
    container.account.lock(user_id)
    writes = _attempt_writes(container, monkeypatch)
    with pytest.raises(AccountLocked):
        container.login.complete(otp_id, latest_code(container), CTX)
    assert writes == ["attempt_challenge"]  # the joint request stored nothing; the step by step way decided
    assert container.storage.list_sessions(user_id, container.clock.now()) == []  # the lock ended the first
    assert container.storage.get_counter(code_failures_key(user_id), container.clock.now()) is None


def test_a_replaced_code_of_a_proven_number_counts_as_a_wrong_one(
    make_container: MakeContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(resend_cooldown_seconds=0)
    user_id, otp_id = _second_sign_in(container)
    first = latest_code(container)
    read = container.storage.get_challenge_with_account(otp_id)
    container.login.resend(otp_id, CTX)
    monkeypatch.setattr(container.storage, "get_challenge_with_account", lambda _id: read)
    with pytest.raises(WrongCode):
        container.login.complete(otp_id, first, CTX)
    failures = container.storage.get_counter(code_failures_key(user_id), container.clock.now())
    assert failures is not None and failures.value == 1
    assert len(container.storage.list_sessions(user_id, container.clock.now())) == 1
    monkeypatch.undo()
    container.login.complete(otp_id, latest_code(container), CTX)
    assert len(container.storage.list_sessions(user_id, container.clock.now())) == 2
