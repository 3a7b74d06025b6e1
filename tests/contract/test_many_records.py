"""Everything of an account that must be reached at once is reached however much there is, on every storage:
ending every session (a password change or reset, signing out everywhere, a lock, a deletion) lists them
all, forgetting every remembered device forgets them all, a deletion erases every passkey and audit event,
and a proven number takes it from every other account's claim.

On DynamoDB each was one Query page: 1,000 sessions, families or claims and 100 devices or passkeys, ended
and expired sessions included until they are purged. So an account with more kept sessions a password
change was meant to end. A Query page is cut at `QUERY_PAGE_ITEMS` (1,000; DynamoDB also cuts at 1 MB);
these tests cut it at a few items, since moto's transactions slow down with every item in the table
(1,010 sessions took four and a half minutes). The devices test keeps more than the old 100."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.contract.helpers import NOW, make_refresh, make_user, prove
from tests.contract.test_factors import device, passkey
from tests.contract.test_sessions import STEP, make_session
from twostep.domain.identity import E164
from twostep.domain.models import User
from twostep.domain.ports import Storage
from twostep.storage import dynamodb_base

MANY = 10  # three pages of the size below
DEVICES = 105  # more than the one page of 100 devices that was read


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(dynamodb_base, "QUERY_PAGE_ITEMS", 4)
    yield


def _signed_in_many_times(storage: Storage, user_id: str = "user-1") -> list[str]:
    families = []
    for _ in range(MANY):
        session = make_session(user_id)
        steps = [replace(event, user_id=user_id) for event in STEP]
        storage.add_session(session, make_refresh(family=session.id, user_id=user_id), steps)
        families.append(session.id)
    return families


def test_every_live_session_is_listed_however_many(storage: Storage) -> None:
    families = _signed_in_many_times(storage)
    assert sorted(s.id for s in storage.list_sessions("user-1", NOW)) == sorted(families)


def test_every_remembered_device_is_forgotten_however_many(storage: Storage) -> None:
    for index in range(DEVICES):
        storage.add_remembered_device(device(f"device-{index}"))
    assert storage.forget_all_devices("user-1") == DEVICES
    assert [i for i in range(DEVICES) if storage.find_remembered_device(f"hash-device-{i}", NOW)] == []


def test_a_deletion_ends_every_session_and_erases_every_passkey_and_event(storage: Storage) -> None:
    user = make_user()
    storage.add_user(user)
    families = _signed_in_many_times(storage, user.id)
    for index in range(MANY):
        storage.add_passkey(passkey(f"cred-{index}", user.id))
    assert len(storage.list_passkeys(user.id)) == MANY
    assert storage.delete_user(user.id, NOW)
    assert storage.pseudonymise_audit(user.id, "deleted-1") == 2 * MANY
    assert storage.list_sessions(user.id, NOW) == []
    assert {r.session_id for r in storage.list_revocations(NOW)} >= set(families)
    assert [i for i in range(MANY) if storage.get_passkey(f"cred-{i}") is not None] == []


def test_a_proven_number_is_taken_from_every_other_claim(storage: Storage) -> None:
    number = E164("+905551112233")
    claimants: list[User] = []
    for index in range(MANY):
        claimants.append(make_user(email=f"claim-{index}@example.com", phone=number))
        storage.add_user(claimants[-1])
    owner = claimants.pop()
    assert prove(storage, owner.id, number)
    left = [c.email for c in claimants if (storage.get_user(c.id) or c).phone is not None]
    assert left == []
