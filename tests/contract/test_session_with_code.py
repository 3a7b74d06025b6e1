"""`add_session_counted` with a code's use (`CodeUse`): the challenge consumed, its attempt counted, with
the session, its events and its counters, all or none, on every storage."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.helpers import NOW, make_challenge, make_refresh, run_together
from tests.contract.test_session_counted import FAILURES, LOCK, VERIFIED, counter_value, sign_in_changes
from tests.contract.test_sessions import STEP, make_session
from twostep.domain.counter_batch import Unless
from twostep.domain.models import Challenge, CodeUse
from twostep.domain.ports import Storage

LATER = NOW + timedelta(seconds=1)
DAY = NOW + timedelta(days=1)


def _use(challenge: Challenge, **kw: object) -> CodeUse:
    values: dict[str, object] = {
        "challenge_id": challenge.id,
        "code_hmac": challenge.code_hmac,
        "channel": challenge.channel,
        "at": LATER,
    }
    values.update(kw)
    return CodeUse(**values)  # type: ignore[arg-type]


def _sign_in(storage: Storage, use: CodeUse, unless: list[Unless] | None = None) -> tuple[bool, str]:
    session = make_session()
    token = make_refresh(family=session.id)
    guards = [Unless(LOCK)] if unless is None else unless
    return storage.add_session_counted(session, token, STEP, sign_in_changes(), NOW, guards, use), session.id


def _nothing_stored(storage: Storage, before: Challenge, session_id: str) -> None:
    assert storage.get_challenge(before.id) == before
    assert storage.get_session("user-1", session_id) is None
    assert storage.list_audit(user_id="user-1") == []
    assert counter_value(storage, FAILURES) == 2
    assert counter_value(storage, VERIFIED) is None


def test_the_code_is_used_with_the_session_its_events_and_counters(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    storage.increment_counter(FAILURES, 2, NOW, DAY)
    stored, session_id = _sign_in(storage, _use(challenge))
    assert stored is True
    used = storage.get_challenge(challenge.id)
    assert used is not None and used.consumed_at == LATER and used.attempts == 1
    assert storage.get_session("user-1", session_id) is not None
    assert sorted(e.event for e in storage.list_audit(user_id="user-1")) == [
        "code_verified",
        "login_succeeded",
    ]
    assert counter_value(storage, FAILURES) in (None, 0)
    assert counter_value(storage, VERIFIED) == 1
    assert storage.attempt_challenge(challenge.id, LATER, challenge.code_hmac) is None  # used once


@pytest.mark.parametrize(
    "state",
    [
        {"consumed_at": NOW},
        {"expires_at": NOW},
        {"attempts": 5},
        {"code_hmac": "h2"},  # replaced since the caller read it
        {"channel": "voice"},  # the same (fixed) code, sent again by another channel
    ],
    ids=["used", "expired", "spent", "replaced", "other-channel"],
)
def test_a_challenge_that_cannot_take_the_code_stores_nothing(
    storage: Storage, state: dict[str, object]
) -> None:
    read = make_challenge()
    now_stored = replace(read, **state)  # type: ignore[arg-type]
    storage.put_challenge(now_stored)
    storage.increment_counter(FAILURES, 2, NOW, DAY)
    stored, session_id = _sign_in(storage, _use(read))
    assert stored is False
    _nothing_stored(storage, now_stored, session_id)


def test_a_missing_challenge_stores_nothing(storage: Storage) -> None:
    storage.increment_counter(FAILURES, 2, NOW, DAY)
    stored, session_id = _sign_in(storage, _use(make_challenge()))
    assert stored is False
    assert storage.get_session("user-1", session_id) is None
    assert counter_value(storage, VERIFIED) is None


@pytest.mark.parametrize("guard", [Unless(LOCK), Unless(FAILURES, 2)], ids=["locked", "spent"])
def test_a_holding_record_leaves_the_code_unused(storage: Storage, guard: Unless) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    storage.increment_counter(LOCK, 1, NOW, DAY)
    storage.increment_counter(FAILURES, 2, NOW, DAY)
    stored, session_id = _sign_in(storage, _use(challenge), [guard])
    assert stored is False
    assert counter_value(storage, LOCK) == 1
    _nothing_stored(storage, challenge, session_id)


def test_one_code_opens_one_session_however_many_race(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    outcomes = run_together(6, lambda _: _sign_in(storage, _use(challenge))[0])
    assert sorted(outcomes, key=str) == [False] * 5 + [True]
    used = storage.get_challenge(challenge.id)
    assert used is not None and used.consumed_at == LATER and used.attempts == 1
    assert len(storage.list_sessions("user-1", NOW)) == 1
    assert counter_value(storage, VERIFIED) == 1
