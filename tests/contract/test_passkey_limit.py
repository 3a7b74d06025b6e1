"""An account's passkeys are bounded (`add_passkey(..., at_most=)`): with the limit reached a new one is
refused (PasskeyLimitReached, nothing stored, no passkey dropped), on every storage; registrations
finishing at once never leave more than the limit, exactly as many land as there was room for; a removed
passkey makes room again; another account's passkeys do not count. Before, nothing bounded them: an
account could add passkeys without end, and each listing and registration read them all."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.helpers import NOW, make_user, run_together
from tests.contract.test_factors import passkey
from twostep.domain.factor_errors import PasskeyExists, PasskeyLimitReached
from twostep.domain.ports import Storage

LIMIT = 3


def test_a_passkey_past_the_limit_is_refused_and_nothing_dropped(storage: Storage) -> None:
    for index in range(LIMIT):
        storage.add_passkey(passkey(f"cred-{index}"), at_most=LIMIT)
    storage.add_passkey(passkey("other", user_id="user-2"), at_most=LIMIT)
    with pytest.raises(PasskeyLimitReached) as refused:
        storage.add_passkey(passkey("cred-extra"), at_most=LIMIT)
    assert refused.value.details == {"limit": LIMIT}
    assert storage.get_passkey("cred-extra") is None, "nothing of the refused passkey is stored"
    assert [c.credential_id for c in storage.list_passkeys("user-1")] == ["cred-0", "cred-1", "cred-2"]
    assert storage.delete_passkey("user-1", "cred-1")
    storage.add_passkey(passkey("cred-extra"), at_most=LIMIT)  # a removed one made room
    assert len(storage.list_passkeys("user-1")) == LIMIT
    storage.add_passkey(passkey("more", user_id="user-2"), at_most=LIMIT)  # its own count


def test_a_credential_id_registered_before_is_still_refused_as_existing(storage: Storage) -> None:
    storage.add_passkey(passkey("cred-0"), at_most=LIMIT)
    with pytest.raises(PasskeyExists):
        storage.add_passkey(passkey("cred-0", user_id="user-2"), at_most=LIMIT)
    assert [c.user_id for c in storage.list_passkeys("user-2")] == []


def test_passkeys_past_a_lowered_limit_stay_and_refuse_more(storage: Storage) -> None:
    for index in range(LIMIT + 2):  # registered before the limit was lowered (or without one)
        storage.add_passkey(passkey(f"cred-{index}"))
    with pytest.raises(PasskeyLimitReached):
        storage.add_passkey(passkey("cred-extra"), at_most=LIMIT)
    assert len(storage.list_passkeys("user-1")) == LIMIT + 2, "none is dropped"


def test_registrations_finishing_at_once_never_pass_the_limit(storage: Storage) -> None:
    storage.add_passkey(passkey("cred-old"), at_most=LIMIT)
    racers = 8

    def register(index: int) -> None:
        new = replace(passkey(f"cred-new-{index}"), created_at=NOW + timedelta(seconds=index))
        storage.add_passkey(new, at_most=LIMIT)

    outcomes = run_together(racers, register)
    stored = [outcome for outcome in outcomes if outcome is None]
    refused = [outcome for outcome in outcomes if isinstance(outcome, PasskeyLimitReached)]
    assert (len(stored), len(refused)) == (LIMIT - 1, racers - LIMIT + 1), outcomes
    assert len(storage.list_passkeys("user-1")) == LIMIT


def test_deleting_the_account_leaves_room_for_its_credential_ids(storage: Storage) -> None:
    gone = make_user()
    storage.add_user(gone)
    for index in range(LIMIT):
        storage.add_passkey(passkey(f"cred-{index}", gone.id), at_most=LIMIT)
    assert storage.delete_user(gone.id, NOW)
    storage.add_passkey(passkey("cred-0", "user-2"), at_most=LIMIT)
    assert [c.credential_id for c in storage.list_passkeys("user-2")] == ["cred-0"]
