"""An address an administrator gives an account (`assign_email`, `twostep users set-email`): stored
unproven, the old address freed, in one atomic step, only while the account is as the command read it;
never an address another account has, a sign-up taking it at the same moment included (exactly one
gets it, and the records are whole either way). On every storage."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.contract.helpers import make_user, run_together
from tests.contract.test_session_unchanged_account import CHANGES, _signed_up
from twostep.domain.errors import AccountExists
from twostep.domain.ports import Storage

NEW = "new.person@example.org"


@pytest.mark.parametrize("proven", [False, True], ids=["unproven", "proven"])
def test_the_account_gets_the_address_unproven_and_the_old_one_is_free(
    storage: Storage, proven: bool
) -> None:
    holder = _signed_up(storage)
    if proven:
        assert storage.prove_email(holder, holder.email) is True
    before = storage.get_user(holder.id)
    assert before is not None
    assert storage.assign_email(before, NEW) is True
    assigned = replace(holder, email=NEW, email_verified=False)
    assert storage.get_user(holder.id) == assigned
    assert storage.find_user_by_email(NEW) == assigned
    assert storage.find_user_by_email(holder.email) is None
    storage.add_user(make_user(email=holder.email, phone=None))  # the old address is free for a sign-up
    assert storage.prove_email(assigned, NEW) is True  # and the owner proves the new one as usual
    assert storage.get_user(holder.id) == replace(assigned, email_verified=True)


def test_an_address_another_account_has_is_refused(storage: Storage) -> None:
    holder = _signed_up(storage)
    other = make_user(email=NEW, phone=None)
    storage.add_user(other)
    with pytest.raises(AccountExists):
        storage.assign_email(holder, NEW)
    assert storage.get_user(holder.id) == holder
    assert storage.find_user_by_email(holder.email) == holder
    assert storage.find_user_by_email(NEW) == other


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_changed_account_keeps_what_the_change_wrote(storage: Storage, change: str) -> None:
    holder = _signed_up(storage)
    CHANGES[change](storage, holder)
    changed = storage.get_user(holder.id)
    assert storage.assign_email(holder, NEW) is False
    assert storage.get_user(holder.id) == changed
    assert storage.find_user_by_email(NEW) is None


@pytest.mark.parametrize("round_", range(3))
def test_a_sign_up_taking_the_address_at_the_same_moment_exactly_one_gets_it(
    storage: Storage, round_: int
) -> None:
    """The command gives an account an address while someone signs up with it: one of them has it, the
    other is refused with AccountExists and wrote nothing (no account without its address, no address
    pointing at two accounts)."""
    holder = _signed_up(storage)
    address = f"race-{round_}@example.org"
    newcomer = make_user(email=address, phone=None)
    writes = [lambda: storage.assign_email(holder, address), lambda: storage.add_user(newcomer)]
    outcomes = run_together(2, lambda index: writes[index]())
    refused = [isinstance(outcome, AccountExists) for outcome in outcomes]
    assert sorted(refused) == [False, True], outcomes
    if refused[1]:  # the command won: the account has the address, unproven; no sign-up was stored
        assert outcomes[0] is True
        assert storage.find_user_by_email(address) == replace(holder, email=address)
        assert storage.get_user(newcomer.id) is None
        assert storage.find_user_by_email(holder.email) is None
    else:  # the sign-up won: the account keeps its address
        assert storage.find_user_by_email(address) == newcomer
        assert storage.get_user(holder.id) == holder
        assert storage.find_user_by_email(holder.email) == holder
