"""A remembered device is stored only for the account as its sign-in checked it
(`add_remembered_device`'s `unchanged`): a password, number or address change, or a deletion, committed
first refuses it and nothing is written; one committed after it finds it among the account's devices. On
every storage, with the race against a password change that forgets the account's devices."""

from __future__ import annotations

import pytest

from tests.contract.helpers import NOW, prove, run_together
from tests.contract.test_factors import device
from tests.contract.test_session_unchanged_account import CHANGES, _signed_up
from twostep.domain.identity import E164
from twostep.domain.ports import Storage


@pytest.mark.parametrize("phone", ["+905555555555", None], ids=["with-number", "without-number"])
def test_an_unchanged_account_gets_its_device(storage: Storage, phone: str | None) -> None:
    user = _signed_up(storage, phone)
    assert storage.add_remembered_device(device("d1", user.id), unchanged=user) is True
    assert storage.find_remembered_device("hash-d1", NOW) == device("d1", user.id)


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_changed_account_gets_no_device(storage: Storage, change: str) -> None:
    user = _signed_up(storage)
    CHANGES[change](storage, user)
    assert storage.add_remembered_device(device("d1", user.id), unchanged=user) is False
    assert storage.find_remembered_device("hash-d1", NOW) is None
    assert storage.list_remembered_devices(user.id, NOW) == []


def test_an_account_that_gained_a_number_gets_no_device(storage: Storage) -> None:
    user = _signed_up(storage, phone=None)
    prove(storage, user.id, E164("+905551112233"))
    assert storage.add_remembered_device(device("d1", user.id), unchanged=user) is False


@pytest.mark.parametrize("round_", range(3))
def test_no_device_outlives_a_password_change_that_forgets_them_all(storage: Storage, round_: int) -> None:
    """Sign-ins checked against the old password race the change and its forgetting of every device (as
    `SessionAndDeviceEnder` does it after the new hash)."""
    user = _signed_up(storage)
    remembers = 7

    def act(index: int) -> bool:
        if index == remembers:
            assert storage.set_password_hash(user, f"$argon2id$new{round_}")
            storage.forget_all_devices(user.id)
            return True
        return storage.add_remembered_device(device(f"d{round_}-{index}", user.id), unchanged=user)

    outcomes = run_together(remembers + 1, act)
    assert all(isinstance(outcome, bool) for outcome in outcomes), outcomes
    assert storage.list_remembered_devices(user.id, NOW) == []
