"""An unproven address taken back by its owner's claim (`release_email`): the account gets a placeholder
in its stead and the address is free for a sign-up, only while the account is as the claim read it and
its address is unproven. An account that proved its address is never touched; a proof and a claim
landing together: exactly one wins, and the record is whole either way. On every storage."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.contract.helpers import make_user, run_together
from tests.contract.test_session_unchanged_account import CHANGES, _signed_up
from twostep.domain.ports import Storage

PLACEHOLDER = "released-0a1b2c@email-released.invalid"


@pytest.mark.parametrize("phone", ["+905555555555", None], ids=["with-number", "without-number"])
def test_an_unproven_address_is_released_and_free(storage: Storage, phone: str | None) -> None:
    squatter = _signed_up(storage, phone)
    assert storage.release_email(squatter, PLACEHOLDER) is True
    assert storage.get_user(squatter.id) == replace(squatter, email=PLACEHOLDER)
    assert storage.find_user_by_email(squatter.email) is None
    assert storage.find_user_by_email(PLACEHOLDER) == replace(squatter, email=PLACEHOLDER)
    owner = make_user(email=squatter.email, phone=None)
    storage.add_user(owner)  # the address is free: the owner signs up
    assert storage.find_user_by_email(squatter.email) == owner


def test_a_proven_address_is_never_released(storage: Storage) -> None:
    holder = _signed_up(storage)
    assert storage.prove_email(holder, holder.email) is True
    proven = storage.get_user(holder.id)
    assert proven is not None
    assert storage.release_email(proven, PLACEHOLDER) is False
    assert storage.release_email(holder, PLACEHOLDER) is False
    assert storage.get_user(holder.id) == proven
    assert storage.find_user_by_email(holder.email) == proven
    assert storage.find_user_by_email(PLACEHOLDER) is None


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_changed_account_keeps_what_the_change_wrote(storage: Storage, change: str) -> None:
    holder = _signed_up(storage)
    CHANGES[change](storage, holder)
    changed = storage.get_user(holder.id)
    assert storage.release_email(holder, PLACEHOLDER) is False
    assert storage.get_user(holder.id) == changed
    assert storage.find_user_by_email(PLACEHOLDER) is None


def test_an_unknown_account_gets_nothing(storage: Storage) -> None:
    assert storage.release_email(make_user(email="stranger@example.com"), PLACEHOLDER) is False
    assert storage.find_user_by_email(PLACEHOLDER) is None


@pytest.mark.parametrize("round_", range(3))
def test_a_proof_and_a_claim_landing_together_exactly_one_wins(storage: Storage, round_: int) -> None:
    """The holder proves the address (a code it was sent earlier) while the owner's
    claim lands: one write wins, the other changes nothing, and the account is whole either way."""
    holder = _signed_up(storage)
    placeholder = f"released-{round_}@email-released.invalid"
    writes = [
        lambda: storage.prove_email(holder, holder.email),
        lambda: storage.release_email(holder, placeholder),
    ]
    outcomes = run_together(2, lambda index: writes[index]())
    assert sorted(outcomes) == [False, True], outcomes
    stored = storage.get_user(holder.id)
    if outcomes[0]:  # the proof won: the address stays, proven
        assert stored == replace(holder, email_verified=True)
        assert storage.find_user_by_email(placeholder) is None
        assert storage.find_user_by_email(holder.email) == stored
    else:  # the claim won: the placeholder, unproven, and the address free
        assert stored == replace(holder, email=placeholder)
        assert storage.find_user_by_email(holder.email) is None
        assert storage.find_user_by_email(placeholder) == stored
        storage.add_user(make_user(email=holder.email, phone=None))
