"""DynamoDB account deletion, which takes many requests (no transaction spans them): one that fails part
way is run again to the end, as docs/sessions.md promises."""

from __future__ import annotations

import uuid
from datetime import timedelta

import boto3
import pytest

from tests.contract.helpers import NOW, make_user
from tests.contract.test_sessions import started
from twostep.domain.errors import StorageUnavailable
from twostep.storage.dynamodb import DynamoDbStorage

pytestmark = pytest.mark.aws


@pytest.fixture
def storage(moto_server: str) -> DynamoDbStorage:
    client = boto3.client("dynamodb", endpoint_url=moto_server, region_name="us-east-1")
    made = DynamoDbStorage(client, f"erasure-{uuid.uuid4().hex[:12]}")
    made.init_schema()
    return made


def test_a_deletion_that_failed_part_way_is_run_again_to_the_end(
    storage: DynamoDbStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the profile went first and the sessions were ended and forgotten after it: a throttled
    call there left every session's client and address kept, and the rerun answered `no user`."""
    user = make_user()
    storage.add_user(user)
    sessions = [started(storage, user.id), started(storage, user.id)]

    def throttled(user_id: str) -> None:
        raise StorageUnavailable("throttled")

    with monkeypatch.context() as patched:
        patched.setattr(storage, "_forget_session_details", throttled)
        with pytest.raises(StorageUnavailable):
            storage.delete_user(user.id, NOW)
    assert storage.delete_user(user.id, NOW + timedelta(seconds=1))  # the account is still there to finish
    assert storage.get_user(user.id) is None
    for session in sessions:
        kept = storage.get_session(user.id, session.id)
        assert kept is None or (kept.client is None and kept.ip is None and kept.revoked_at is not None)
    assert {r.session_id for r in storage.list_revocations(NOW)} == {s.id for s in sessions}


def test_a_deletion_ends_and_forgets_many_sessions_in_batches(
    storage: DynamoDbStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, each pass of a deletion (it makes two) ended the sessions family by family (a read, a
    transaction and an update each) and stripped their client details one update each: 40 sessions took
    some 330 requests, 3,000 some 24,000. Now the writes go 33 sessions (100 details) a transaction."""
    user = make_user()
    storage.add_user(user)
    sessions = [started(storage, user.id) for _ in range(40)]
    calls: list[str] = []
    original = storage._calls.call

    def counted(operation: str, **kwargs: object) -> object:
        calls.append(operation)
        return original(operation, **kwargs)

    monkeypatch.setattr(storage._calls, "call", counted)
    assert storage.delete_user(user.id, NOW)
    per_session = [c for c in calls if c in ("get_item", "update_item")]
    counts = {c: calls.count(c) for c in set(calls)}
    assert calls.count("transact_write_items") <= 6 and len(per_session) <= 3, counts
    for session in sessions:
        kept = storage.get_session(user.id, session.id)
        assert kept is not None and kept.client is None and kept.ip is None and kept.revoked_at == NOW
    assert {r.session_id for r in storage.list_revocations(NOW)} == {s.id for s in sessions}
