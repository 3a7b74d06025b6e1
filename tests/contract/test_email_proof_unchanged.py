"""An address is made the account's (a new one, or its own proven) only while the account is as its
request read it (`prove_email`'s `account`): a password, number or address change, or a deletion,
committed first refuses it and nothing is written. Proving the old address after a change to a new one
put the old one back. On every storage, with the race of several proofs made from one read."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.contract.helpers import make_user, run_together
from tests.contract.test_session_unchanged_account import CHANGES, _signed_up
from twostep.domain.errors import AccountExists
from twostep.domain.ports import Storage


@pytest.mark.parametrize("phone", ["+905555555555", None], ids=["with-number", "without-number"])
def test_an_unchanged_account_gets_its_address_proven(storage: Storage, phone: str | None) -> None:
    user = _signed_up(storage, phone)
    assert storage.prove_email(user, user.email) is True
    assert storage.get_user(user.id) == replace(user, email_verified=True)
    assert storage.prove_email(user, "moved@example.com") is True
    assert storage.get_user(user.id) == replace(user, email="moved@example.com", email_verified=True)
    assert storage.find_user_by_email(user.email) is None


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_changed_account_keeps_what_the_change_wrote(storage: Storage, change: str) -> None:
    user = _signed_up(storage)
    CHANGES[change](storage, user)
    changed = storage.get_user(user.id)
    assert storage.prove_email(user, user.email) is False  # the old address, proven as read
    assert storage.prove_email(user, "other@example.com") is False
    assert storage.get_user(user.id) == changed
    assert storage.find_user_by_email("other@example.com") is None
    if changed is not None:
        assert storage.find_user_by_email(changed.email) == changed


def test_a_taken_address_is_refused_while_unchanged(storage: Storage) -> None:
    user = _signed_up(storage)
    storage.add_user(make_user(email="taken@example.com", phone=None))
    with pytest.raises(AccountExists):
        storage.prove_email(user, "taken@example.com")
    assert storage.get_user(user.id) == user


def test_an_unknown_account_gets_nothing(storage: Storage) -> None:
    stranger = make_user(email="stranger@example.com")
    assert storage.prove_email(stranger, "stranger@example.com") is False
    assert storage.find_user_by_email("stranger@example.com") is None


@pytest.mark.parametrize("round_", range(3))
def test_of_proofs_made_from_one_read_exactly_one_is_stored(storage: Storage, round_: int) -> None:
    """The owner's two changes confirmed at once (or a change and a proof of the old address): the first
    write wins, the others are refused, and their addresses stay free."""
    user = _signed_up(storage)
    addresses = [f"new{round_}-{index}@example.com" for index in range(8)]
    outcomes = run_together(len(addresses), lambda index: storage.prove_email(user, addresses[index]))
    assert all(isinstance(outcome, bool) for outcome in outcomes), outcomes
    assert sorted(outcomes) == [False] * (len(addresses) - 1) + [True], outcomes
    winner = addresses[outcomes.index(True)]
    stored = storage.get_user(user.id)
    assert stored is not None and stored.email == winner and stored.email_verified
    for address in addresses:
        found = storage.find_user_by_email(address)
        assert (found is not None and found.id == user.id) if address == winner else found is None
    storage.add_user(make_user(email=addresses[(outcomes.index(True) + 1) % 8], phone=None))  # free
