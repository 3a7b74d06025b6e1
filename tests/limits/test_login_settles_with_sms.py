"""A sign-in's right password is settled in the storage request that takes its code's SMS limits; when
that joint request cannot go through (a cap, a lock, spent wrong codes, a refused destination), the
password's counts still settle on their own and the refusal is the one the step by step order gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import PASSWORD, PHONE, latest_code
from tests.limits.helpers import login_failures, register_with_phone
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import AccountLocked, DestinationNotAllowed, RateLimited
from twostep.domain.models import RequestContext
from twostep.services.limits import code_failures_key

MakeContainer = Callable[..., Container]
EMAIL = "together@example.com"
CTX = RequestContext(ip="198.51.100.7")
CLIENT = f"{EMAIL}|198.51.100.0/24"


def _counter_requests(container: Container, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the counter batches the storage is asked for (one storage request each)."""
    calls: list[int] = []
    change = container.storage.change_counters

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[0]))
        return change(*args, **kwargs)

    monkeypatch.setattr(container.storage, "change_counters", counted)
    return calls


def test_the_password_settles_in_the_sms_request(
    make_container: MakeContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container()
    register_with_phone(container, EMAIL)
    calls = _counter_requests(container, monkeypatch)
    container.login.start(EMAIL, PASSWORD, CTX)
    # The attempt's counts, then one batch: the password's settling with the SMS's caps and budgets.
    assert len(calls) == 2
    assert login_failures(container, CLIENT) == 0
    assert login_failures(container, EMAIL) == 0
    assert len(container.storage.list_outbox(to=PHONE)) == 1


def test_a_capped_sms_still_settles_the_password_and_is_refused_once(make_container: MakeContainer) -> None:
    container = make_container(sms_per_number_day=1)
    register_with_phone(container, EMAIL)
    container.login.start(EMAIL, PASSWORD, CTX)
    with pytest.raises(RateLimited) as capped:
        container.login.start(EMAIL, PASSWORD, CTX)
    assert capped.value.limit == "sms_per_number_day"
    assert login_failures(container, CLIENT) == 0
    assert login_failures(container, EMAIL) == 0
    hits = [e for e in container.audit.tail(limit=100) if e.event == "limit_hit"]
    assert [e.detail for e in hits] == [{"limit": "sms_per_number_day"}]
    assert len(container.storage.list_outbox(to=PHONE)) == 1


def _registered_then_only_de(make_container: MakeContainer) -> tuple[Container, str]:
    """A container allowing texts to Germany only, over a database where the account (a Turkish
    number) signed up before that rule."""
    user_id = register_with_phone(make_container(storage="sqlite"), EMAIL)
    return make_container(storage="sqlite", sms_allowed_countries="de"), user_id


def test_a_refused_destination_still_settles_the_password(make_container: MakeContainer) -> None:
    container, _ = _registered_then_only_de(make_container)
    with pytest.raises(DestinationNotAllowed):
        container.login.start(EMAIL, PASSWORD, CTX)
    assert login_failures(container, CLIENT) == 0
    assert login_failures(container, EMAIL) == 0
    assert container.storage.list_outbox(to=PHONE) == []


def test_a_locked_account_is_refused_before_its_destination(make_container: MakeContainer) -> None:
    container, user_id = _registered_then_only_de(make_container)
    container.account.lock(user_id)
    with pytest.raises(AccountLocked):
        container.login.start(EMAIL, PASSWORD, CTX)
    assert not [e for e in container.audit.tail(limit=100) if e.event == "limit_hit"]
    assert login_failures(container, EMAIL) == 0


def test_spent_wrong_codes_are_refused_before_a_spent_cap(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    container = make_container(otp_account_failure_limit=3, sms_per_number_day=1)
    user_id = register_with_phone(container, EMAIL)
    container.login.start(EMAIL, PASSWORD, CTX)  # the day's one text
    container.storage.increment_counter(
        code_failures_key(user_id), 3, clock.now(), clock.now() + timedelta(days=1)
    )
    with pytest.raises(RateLimited) as refused:
        container.login.start(EMAIL, PASSWORD, CTX)
    assert refused.value.limit == "second_factor_locked"
    assert login_failures(container, CLIENT) == 0
    assert login_failures(container, EMAIL) == 0


def test_a_right_codes_counts_are_written_with_the_session(
    make_container: MakeContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(storage="sqlite")  # its session write runs the counters' SQL itself
    user_id = register_with_phone(container, EMAIL)
    first = container.login.start(EMAIL, PASSWORD, CTX)
    container.login.complete(first.otp_id, latest_code(container), CTX)  # type: ignore[union-attr]
    now = container.clock.now()
    container.storage.increment_counter(code_failures_key(user_id), 2, now, now + timedelta(days=1))
    started = container.login.start(EMAIL, PASSWORD, CTX)
    calls = _counter_requests(container, monkeypatch)
    container.login.complete(started.otp_id, latest_code(container), CTX)  # type: ignore[union-attr]
    # The number was proven by the first sign-in: the counts went with the session, no batch of their own.
    assert calls == []
    assert container.storage.get_counter(code_failures_key(user_id), container.clock.now()) is None
    assert len(container.storage.list_sessions(user_id, container.clock.now())) == 2
