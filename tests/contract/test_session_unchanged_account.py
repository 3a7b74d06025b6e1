"""A session is stored only for the account as its sign-in checked it (`add_session`'s `unchanged`): a
password, number or address change, or a deletion, committed first refuses it, all or none; one committed
after it finds it among the account's sessions. On every storage, with the race against a password change
that ends the account's sessions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from tests.contract.helpers import NOW, make_challenge, make_refresh, make_user, prove, run_together
from tests.contract.test_session_counted import FAILURES, LOCK, VERIFIED, counter_value, sign_in_changes
from tests.contract.test_session_with_code import DAY, _use
from tests.contract.test_sessions import STEP, make_session
from twostep.domain.counter_batch import Unless
from twostep.domain.identity import E164
from twostep.domain.models import User
from twostep.domain.ports import Storage


def _signed_up(storage: Storage, phone: str | None = "+905555555555") -> User:
    user = make_user(phone=phone)
    storage.add_user(user)
    return user


def _add(storage: Storage, user: User) -> tuple[bool, str, str]:
    session = make_session(user.id)
    token = make_refresh(family=session.id, user_id=user.id)
    steps = [replace(e, user_id=user.id) for e in STEP]
    return storage.add_session(session, token, steps, unchanged=user), session.id, token.token_hash


@pytest.mark.parametrize("phone", ["+905555555555", None], ids=["with-number", "without-number"])
def test_an_unchanged_account_gets_its_session(storage: Storage, phone: str | None) -> None:
    user = _signed_up(storage, phone)
    stored, session_id, token_hash = _add(storage, user)
    assert stored is True
    assert storage.get_session(user.id, session_id) is not None
    assert storage.get_refresh_token(token_hash) is not None
    assert [e.event for e in storage.list_audit(user_id=user.id)] == ["code_verified", "login_succeeded"]


def test_proving_the_same_number_changes_no_credential(storage: Storage) -> None:
    user = _signed_up(storage)
    assert prove(storage, user.id, E164("+905555555555"))
    assert _add(storage, user)[0] is True


CHANGES: dict[str, Callable[[Storage, User], object]] = {
    "password": lambda s, u: s.set_password_hash(u, "$argon2id$new"),
    "number": lambda s, u: prove(s, u.id, E164("+905551112233")),
    "address": lambda s, u: s.prove_email(u, "new@example.com"),
    "deleted": lambda s, u: s.delete_user(u.id, NOW),
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_changed_account_gets_nothing_stored(storage: Storage, change: str) -> None:
    user = _signed_up(storage)
    CHANGES[change](storage, user)
    stored, session_id, token_hash = _add(storage, user)
    assert stored is False
    assert storage.get_session(user.id, session_id) is None
    assert storage.get_refresh_token(token_hash) is None
    assert [e for e in storage.list_audit(user_id=user.id) if e.event == "login_succeeded"] == []


def test_an_account_that_gained_a_number_gets_nothing_stored(storage: Storage) -> None:
    user = _signed_up(storage, phone=None)
    prove(storage, user.id, E164("+905551112233"))
    assert _add(storage, user)[0] is False


def test_a_counted_session_of_a_changed_account_uses_no_code_and_counts_nothing(storage: Storage) -> None:
    user = _signed_up(storage)
    challenge = make_challenge(subject=user.id)
    storage.put_challenge(challenge)
    storage.increment_counter(FAILURES, 2, NOW, DAY)
    assert storage.set_password_hash(user, "$argon2id$new")
    session = make_session(user.id)
    token = make_refresh(family=session.id, user_id=user.id)
    stored = storage.add_session_counted(
        session, token, (), sign_in_changes(), NOW, [Unless(LOCK)], _use(challenge), unchanged=user
    )
    assert stored is False
    assert storage.get_challenge(challenge.id) == challenge
    assert storage.get_session(user.id, session.id) is None
    assert counter_value(storage, FAILURES) == 2
    assert counter_value(storage, VERIFIED) is None


def test_a_counted_session_of_an_unchanged_account_is_stored(storage: Storage) -> None:
    user = _signed_up(storage)
    session = make_session(user.id)
    token = make_refresh(family=session.id, user_id=user.id)
    assert storage.add_session_counted(session, token, (), sign_in_changes(), NOW, unchanged=user) is True
    assert storage.get_session(user.id, session.id) is not None


@pytest.mark.parametrize("round_", range(3))
def test_no_session_outlives_a_password_change_that_ends_them_all(storage: Storage, round_: int) -> None:
    """Sign-ins checked against the old password race the change and its ending of every session (as
    `AccountChangeService.change_password` does it: the new hash, then each live session ended)."""
    user = _signed_up(storage)
    sign_ins = 7

    def act(index: int) -> bool:
        if index == sign_ins:
            assert storage.set_password_hash(user, f"$argon2id$new{round_}")
            for live in storage.list_sessions(user.id, NOW):
                storage.revoke_family(live.id, NOW)
            return True
        return _add(storage, user)[0]

    outcomes = run_together(sign_ins + 1, act)
    assert all(isinstance(outcome, bool) for outcome in outcomes), outcomes
    assert storage.list_sessions(user.id, NOW) == []
    assert _add(storage, user)[0] is False  # and none after it either
