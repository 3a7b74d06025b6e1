"""DynamoDB only: a sign-in's look at the account's second factors (`enrolled_factors`) makes two requests
however many passkeys the account has. Before, it read every passkey, one GetItem each (40 passkeys: 42
requests at every password sign-in). A pointer whose passkey is gone or another account's still counts
for nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract.helpers import moto_table
from tests.contract.test_factors import passkey
from twostep.storage.dynamodb import DynamoDbStorage

PASSKEYS = 12


@pytest.fixture
def storage(moto_server: str) -> Iterator[DynamoDbStorage]:
    storage, _ = moto_table(moto_server, "enrolled")
    yield storage
    storage.close()


def _requests(storage: DynamoDbStorage, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    operations: list[str] = []
    call = storage._calls.call

    def counting(operation: str, **kwargs: Any) -> Any:
        operations.append(operation)
        return call(operation, **kwargs)

    monkeypatch.setattr(storage._calls, "call", counting)
    return operations


def test_two_requests_however_many_passkeys(
    storage: DynamoDbStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(PASSKEYS):
        storage.add_passkey(passkey(f"cred-{index}", "user-1"))
    operations = _requests(storage, monkeypatch)
    assert storage.enrolled_factors("user-1").passkeys is True
    assert len(operations) == 2, operations
    operations.clear()
    assert storage.enrolled_factors("user-2").passkeys is False
    assert len(operations) == 2, operations


def test_a_stale_pointer_is_no_passkey(storage: DynamoDbStorage) -> None:
    """The pointer's passkey belongs to someone else (a pointer left behind): not the user's."""
    storage.add_passkey(passkey("cred-other", "user-2"))
    storage._put({"PK": "USER#user-1", "SK": "PASSKEY#cred-other", "credential_id": "cred-other"})
    assert storage.enrolled_factors("user-1").passkeys is False
    storage.add_passkey(passkey("cred-mine", "user-1"))
    assert storage.enrolled_factors("user-1").passkeys is True


def test_listing_passkeys_reads_them_at_once(
    storage: DynamoDbStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`GET /me/passkeys` and a registration's excluded credentials list them: one GetItem per passkey
    before (12 passkeys, 13 requests); a Query and one BatchGetItem now."""
    for index in range(PASSKEYS):
        storage.add_passkey(passkey(f"cred-{index}", "user-1"))
    storage.add_passkey(passkey("cred-other", "user-2"))
    storage._put({"PK": "USER#user-1", "SK": "PASSKEY#cred-other", "credential_id": "cred-other"})
    operations = _requests(storage, monkeypatch)
    listed = storage.list_passkeys("user-1")
    assert sorted(c.credential_id for c in listed) == sorted(f"cred-{i}" for i in range(PASSKEYS))
    assert len(operations) == 2, operations
