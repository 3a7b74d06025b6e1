"""`Idempotency-Key` records on every backend: one claim per key (one conditional write, also under a
race), the first answer kept for the claim's holder only, expiry, and takeover of an abandoned claim."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.contract.helpers import NOW, run_together
from twostep.domain.idempotency import IdempotencyRecord
from twostep.domain.ports import Storage

DAY = 86_400
ANSWER = '{"status": 200, "headers": [], "body": "{}"}'


def record(
    lease: str = "lease-1", key: str = "k1", at_second: float = 0, ttl: int = DAY
) -> IdempotencyRecord:
    at = NOW + timedelta(seconds=at_second)
    return IdempotencyRecord(
        key=key,
        fingerprint="fp-1",
        lease=lease,
        created_at=at,
        expires_at=at + timedelta(seconds=ttl),
        locked_until=at + timedelta(seconds=60),
    )


def test_one_claim_holds_the_key_and_only_its_holder_stores_the_answer(storage: Storage) -> None:
    assert storage.claim_idempotency_key(record()) is True
    assert storage.claim_idempotency_key(record("lease-2", at_second=1)) is False
    running = storage.get_idempotency_record("k1", NOW)
    assert running == record()  # no answer yet
    assert storage.save_idempotent_answer("k1", "lease-2", ANSWER) is False
    assert storage.save_idempotent_answer("k1", "lease-1", ANSWER) is True
    assert storage.save_idempotent_answer("k1", "lease-1", "second answer") is False
    answered = storage.get_idempotency_record("k1", NOW + timedelta(hours=1))
    assert answered == replace(record(), answer=ANSWER)
    storage.release_idempotency_key("k1", "lease-1")  # an answered key is kept
    assert storage.get_idempotency_record("k1", NOW) == answered
    # Past its lock an answered key is still taken: only expiry frees it.
    assert storage.claim_idempotency_key(record("lease-3", at_second=3600)) is False
    assert storage.get_idempotency_record("other", NOW) is None


def test_a_released_claim_frees_the_key_for_its_holder_only(storage: Storage) -> None:
    assert storage.claim_idempotency_key(record()) is True
    storage.release_idempotency_key("k1", "lease-2")  # not the holder: nothing happens
    assert storage.get_idempotency_record("k1", NOW) is not None
    storage.release_idempotency_key("k1", "lease-1")
    assert storage.get_idempotency_record("k1", NOW) is None
    assert storage.claim_idempotency_key(record("lease-2", at_second=1)) is True
    assert storage.save_idempotent_answer("k1", "lease-1", ANSWER) is False


def test_an_expired_key_is_forgotten_and_may_be_claimed_again(storage: Storage) -> None:
    assert storage.claim_idempotency_key(record(ttl=600)) is True
    assert storage.save_idempotent_answer("k1", "lease-1", ANSWER) is True
    later = NOW + timedelta(seconds=600)
    assert storage.get_idempotency_record("k1", later) is None
    assert storage.claim_idempotency_key(record("lease-2", at_second=600)) is True
    fresh = storage.get_idempotency_record("k1", later)
    assert fresh is not None and fresh.lease == "lease-2" and fresh.answer is None


def test_an_abandoned_claim_is_taken_over_after_its_lock(storage: Storage) -> None:
    assert storage.claim_idempotency_key(record()) is True
    assert storage.claim_idempotency_key(record("lease-2", at_second=59)) is False
    assert storage.claim_idempotency_key(record("lease-2", at_second=60)) is True
    assert storage.save_idempotent_answer("k1", "lease-1", ANSWER) is False  # the crashed holder lost it
    storage.release_idempotency_key("k1", "lease-1")
    assert storage.save_idempotent_answer("k1", "lease-2", ANSWER) is True


def test_racing_claims_of_one_key_let_exactly_one_proceed(storage: Storage) -> None:
    results = run_together(12, lambda i: storage.claim_idempotency_key(record(f"lease-{i}")))
    assert results.count(True) == 1, results
    assert all(r is False for r in results if r is not True)
    holder = storage.get_idempotency_record("k1", NOW)
    assert holder is not None and holder.lease == f"lease-{results.index(True)}"


def test_racing_takeovers_of_an_abandoned_claim_let_exactly_one_proceed(storage: Storage) -> None:
    assert storage.claim_idempotency_key(record()) is True
    results = run_together(8, lambda i: storage.claim_idempotency_key(record(f"late-{i}", at_second=61)))
    assert results.count(True) == 1, results
