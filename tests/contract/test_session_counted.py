"""`add_session_counted`: a session stored with counter changes, all or none, held back by `unless`
records (the account lock, spent wrong codes), on every storage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.helpers import NOW, make_refresh, run_together
from tests.contract.test_sessions import STEP, make_session
from twostep.domain.counter_batch import CounterChange, Unless, forget
from twostep.domain.ports import Storage

LATER = NOW + timedelta(days=1)
FAILURES, VERIFIED, LOCK = "otp-fail:user-1", "fraud:verified:+90555", "account-lock:user-1"


def sign_in_changes() -> list[CounterChange]:
    return [forget(FAILURES), CounterChange(VERIFIED, 1, LATER)]


def counter_value(storage: Storage, key: str) -> int | None:
    live = storage.get_counter(key, NOW)
    return None if live is None else live.value


def test_the_session_its_events_and_the_counters_are_stored_together(storage: Storage) -> None:
    storage.increment_counter(FAILURES, 2, NOW, LATER)
    session = make_session()
    token = make_refresh(family=session.id)
    stored = storage.add_session_counted(session, token, STEP, sign_in_changes(), NOW, [Unless(LOCK)])
    assert stored is True
    assert storage.get_session("user-1", session.id) == session
    assert storage.get_refresh_token(token.token_hash) is not None
    assert sorted(e.event for e in storage.list_audit(user_id="user-1")) == [
        "code_verified",
        "login_succeeded",
    ]
    assert counter_value(storage, FAILURES) in (None, 0)  # forgotten
    assert counter_value(storage, VERIFIED) == 1


@pytest.mark.parametrize("guard", [Unless(LOCK), Unless(FAILURES, 3)], ids=["locked", "spent"])
def test_a_holding_record_stores_nothing(storage: Storage, guard: Unless) -> None:
    storage.increment_counter(LOCK, 1, NOW, LATER)
    storage.increment_counter(FAILURES, 3, NOW, LATER)
    session = make_session()
    token = make_refresh(family=session.id)
    assert storage.add_session_counted(session, token, STEP, sign_in_changes(), NOW, [guard]) is False
    assert storage.get_session("user-1", session.id) is None
    assert storage.get_refresh_token(token.token_hash) is None
    assert storage.list_audit(user_id="user-1") == []
    assert counter_value(storage, FAILURES) == 3
    assert counter_value(storage, VERIFIED) is None


def test_a_guard_under_its_threshold_lets_the_session_through(storage: Storage) -> None:
    storage.increment_counter(FAILURES, 2, NOW, LATER)
    session = make_session()
    token = make_refresh(family=session.id)
    assert storage.add_session_counted(session, token, (), sign_in_changes(), NOW, [Unless(FAILURES, 3)])
    assert storage.get_session("user-1", session.id) == session


def test_counters_with_a_limit_or_none_at_all_are_refused(storage: Storage) -> None:
    session = make_session()
    token = make_refresh(family=session.id)
    with pytest.raises(ValueError, match="limit"):
        storage.add_session_counted(session, token, (), [CounterChange(VERIFIED, 1, LATER, 5)], NOW)
    with pytest.raises(ValueError, match="limit"):
        storage.add_session_counted(session, token, (), [], NOW)
    assert storage.get_session("user-1", session.id) is None


def test_sign_ins_at_once_each_store_their_session_and_count(storage: Storage) -> None:
    sessions = [make_session() for _ in range(6)]

    def sign_in(index: int) -> bool:
        session = sessions[index]
        token = make_refresh(family=session.id)
        changes = [forget(FAILURES), CounterChange(VERIFIED, 1, LATER)]
        return storage.add_session_counted(session, token, (), changes, NOW, [Unless(LOCK)])

    assert run_together(len(sessions), sign_in) == [True] * len(sessions)
    assert counter_value(storage, VERIFIED) == len(sessions)
    assert {s.id for s in storage.list_sessions("user-1", NOW)} == {s.id for s in sessions}
