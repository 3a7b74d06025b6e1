"""A new password hash is stored only over the credentials its request checked (`set_password_hash`'s
`account`): a password, number or address change, or a deletion, committed first refuses it and nothing is
written. On every storage, with the race of several writes made from one read of the account."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.contract.helpers import make_user, prove, run_together
from tests.contract.test_session_unchanged_account import CHANGES, _signed_up
from twostep.domain.identity import E164
from twostep.domain.password_spelling import NFKC_MARK
from twostep.domain.ports import Storage

NEW_HASH = "$argon2id$v=19$m=19456,t=2,p=1$bmV3$aGFzaA"


@pytest.mark.parametrize("phone", ["+905555555555", None], ids=["with-number", "without-number"])
def test_an_unchanged_account_gets_its_new_hash_and_keeps_the_rest(
    storage: Storage, phone: str | None
) -> None:
    user = _signed_up(storage, phone)
    assert storage.set_password_hash(user, NEW_HASH) is True
    assert storage.get_user(user.id) == replace(user, password_hash=NEW_HASH)


def test_proving_the_same_number_changes_no_credential(storage: Storage) -> None:
    user = _signed_up(storage)
    assert prove(storage, user.id, E164("+905555555555"))
    assert storage.set_password_hash(user, NEW_HASH) is True


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_changed_account_keeps_what_the_change_wrote(storage: Storage, change: str) -> None:
    user = _signed_up(storage)
    CHANGES[change](storage, user)
    changed = storage.get_user(user.id)
    assert storage.set_password_hash(user, NEW_HASH) is False
    assert storage.get_user(user.id) == changed


def test_an_account_that_gained_a_number_keeps_its_hash(storage: Storage) -> None:
    user = _signed_up(storage, phone=None)
    prove(storage, user.id, E164("+905551112233"))
    assert storage.set_password_hash(user, NEW_HASH) is False
    assert storage.get_user(user.id).password_hash == user.password_hash  # type: ignore[union-attr]


def test_an_unknown_account_gets_nothing(storage: Storage) -> None:
    assert storage.set_password_hash(make_user(), NEW_HASH) is False


@pytest.mark.parametrize("round_", range(3))
def test_of_writes_made_from_one_read_exactly_one_is_stored(storage: Storage, round_: int) -> None:
    """Two changes that checked the same current password (or a change and an old password's rehash):
    the first write wins, the others are refused instead of overwriting it."""
    user = _signed_up(storage)
    hashes = [f"{NEW_HASH}{round_}{index}" for index in range(8)]
    outcomes = run_together(len(hashes), lambda index: storage.set_password_hash(user, hashes[index]))
    assert all(isinstance(outcome, bool) for outcome in outcomes), outcomes
    assert sorted(outcomes) == [False] * (len(hashes) - 1) + [True], outcomes
    stored = storage.get_user(user.id)
    assert stored is not None and stored.password_hash == hashes[outcomes.index(True)]


BEFORE_THE_MARK = "$argon2id$v=19$m=19456,t=2,p=1$b2xkc2FsdA$b2xkZGlnZXN0"


@pytest.mark.parametrize("stored_as", [BEFORE_THE_MARK, NFKC_MARK + NEW_HASH], ids=["unmarked", "marked"])
def test_a_hash_reads_back_as_stored_with_or_without_the_nfkc_mark(storage: Storage, stored_as: str) -> None:
    """Hashes made since the NFKC mark start with `$nfkc$`, ones from before do not: every storage keeps
    each as it was written, on every read a sign-in or a change makes."""
    user = replace(make_user(), password_hash=stored_as)
    storage.add_user(user)
    assert storage.get_user(user.id) == user
    assert storage.find_user_by_email(user.email) == user
    assert storage.find_user_signing_in(user.email)[0] == user


def test_of_sign_ins_marking_one_hash_from_one_read_exactly_one_is_stored(storage: Storage) -> None:
    """A hash from before the NFKC mark is stored again marked at its next right sign-in; sign-ins that
    checked it at once each write the mark over the hash they read, and only the first is stored."""
    user = replace(make_user(), password_hash=BEFORE_THE_MARK)
    storage.add_user(user)
    outcomes = run_together(4, lambda _: storage.set_password_hash(user, NFKC_MARK + BEFORE_THE_MARK))
    assert sorted(outcomes) == [False, False, False, True], outcomes
    stored = storage.find_user_by_email(user.email)
    assert stored is not None and stored.password_hash == NFKC_MARK + BEFORE_THE_MARK
    assert storage.set_password_hash(user, NFKC_MARK + NEW_HASH) is False  # read before the mark: refused
