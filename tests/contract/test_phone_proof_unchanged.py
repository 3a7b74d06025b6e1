"""A number is made the account's proven one only while the account is as its request read it
(`prove_phone`'s `account`): a password, number or address change, or a deletion, committed first refuses
it and nothing is written, other accounts' claims included. Proving the number the account had before a
change to another put the old one back. On every storage, with the race of several proofs from one read."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.contract.helpers import make_user, prove, run_together
from tests.contract.test_session_unchanged_account import CHANGES, _signed_up
from twostep.domain.identity import E164
from twostep.domain.ports import Storage

CLAIMED, NEW = E164("+905555555555"), E164("+905551112299")


@pytest.mark.parametrize("phone", [CLAIMED, None], ids=["its-claim", "no-number"])
def test_an_unchanged_account_gets_its_number_proven(storage: Storage, phone: E164 | None) -> None:
    user = _signed_up(storage, phone)
    assert storage.prove_phone(user, CLAIMED) is True
    assert storage.get_user(user.id) == replace(user, phone=CLAIMED, phone_verified=True)


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_changed_account_keeps_what_the_change_wrote(storage: Storage, change: str) -> None:
    user = _signed_up(storage)
    claimant = make_user(email="claimant@example.com", phone=NEW)
    storage.add_user(claimant)
    CHANGES[change](storage, user)
    changed = storage.get_user(user.id)
    assert storage.prove_phone(user, CLAIMED) is False  # the number the account had, as read
    assert storage.prove_phone(user, NEW) is False
    assert storage.get_user(user.id) == changed
    assert storage.get_user(claimant.id) == claimant  # its claim on NEW not dropped by a refused proof


def test_the_old_claim_is_not_proven_over_a_new_number(storage: Storage) -> None:
    """A first sign-in's code from the claimed number, checked just before a change to another number."""
    user = _signed_up(storage)
    assert prove(storage, user.id, NEW)
    assert storage.prove_phone(user, CLAIMED) is False
    moved = storage.get_user(user.id)
    assert moved is not None and (moved.phone, moved.phone_verified) == (NEW, True)
    storage.add_user(make_user(email="next@example.com", phone=CLAIMED, phone_verified=True))  # still free


@pytest.mark.parametrize("round_", range(3))
def test_of_proofs_made_from_one_read_exactly_one_is_stored(storage: Storage, round_: int) -> None:
    user = _signed_up(storage)
    numbers = [E164(f"+9055511{round_}{index:04d}") for index in range(8)]
    outcomes = run_together(len(numbers), lambda index: storage.prove_phone(user, numbers[index]))
    assert all(isinstance(outcome, bool) for outcome in outcomes), outcomes
    assert sorted(outcomes) == [False] * (len(numbers) - 1) + [True], outcomes
    stored = storage.get_user(user.id)
    assert stored is not None and stored.phone == numbers[outcomes.index(True)] and stored.phone_verified
    for index, number in enumerate(numbers):  # the refused ones stay free for anyone to prove
        if not outcomes[index]:
            storage.add_user(make_user(email=f"n{index}@example.com", phone=number, phone_verified=True))
