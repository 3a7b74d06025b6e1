"""`attempt_challenge`: an attempt counted and, for the right code still stored, the challenge consumed,
in one atomic write, on every backend."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, make_challenge, run_together
from twostep.domain.ports import Storage

LATER = NOW + timedelta(seconds=1)


def test_the_right_code_is_counted_and_consumed_at_once(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    done = storage.attempt_challenge(challenge.id, LATER, "h1")
    assert done is not None and done.attempts == 1 and done.consumed_at == LATER
    stored = storage.get_challenge(challenge.id)
    assert stored is not None and stored.consumed_at == LATER
    assert storage.attempt_challenge(challenge.id, LATER, "h1") is None  # single use


def test_a_wrong_code_is_only_counted(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    counted = storage.attempt_challenge(challenge.id, LATER, None)
    assert counted is not None and counted.attempts == 1 and counted.consumed_at is None


def test_a_code_replaced_since_the_read_is_not_consumed(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    storage.replace_code(challenge.id, "h2", NOW + timedelta(seconds=120), NOW)
    counted = storage.attempt_challenge(challenge.id, LATER, "h1")
    assert counted is not None and counted.consumed_at is None and counted.code_hmac == "h2"
    assert counted.attempts == 1


def test_the_gate_refuses_expired_and_spent_challenges(storage: Storage) -> None:
    expired = make_challenge(ttl=1)
    spent = make_challenge(max_attempts=1)
    for challenge in (expired, spent):
        storage.put_challenge(challenge)
    assert storage.attempt_challenge(expired.id, NOW + timedelta(seconds=2), "h1") is None
    assert storage.attempt_challenge(spent.id, LATER, None) is not None
    assert storage.attempt_challenge(spent.id, LATER, "h1") is None
    assert storage.attempt_challenge("missing", LATER, "h1") is None


def test_racing_right_codes_consume_once_within_the_budget(storage: Storage) -> None:
    challenge = make_challenge(max_attempts=30)
    storage.put_challenge(challenge)
    results = run_together(
        20, lambda i: storage.attempt_challenge(challenge.id, LATER, "h1" if i % 2 else None)
    )
    assert not any(isinstance(r, BaseException) for r in results), results
    consumed = [r for r in results if r is not None and r.consumed_at is not None]  # type: ignore[union-attr]
    assert len(consumed) == 1
    stored = storage.get_challenge(challenge.id)
    counted = [r for r in results if r is not None]
    assert stored is not None and stored.attempts == len(counted)  # refused calls counted nothing


def test_racing_wrong_codes_use_exactly_the_budget(storage: Storage) -> None:
    challenge = make_challenge(max_attempts=5)
    storage.put_challenge(challenge)
    results = run_together(20, lambda _: storage.attempt_challenge(challenge.id, LATER, None))
    assert sum(r is not None and not isinstance(r, BaseException) for r in results) == 5
    assert storage.get_challenge(challenge.id).attempts == 5  # type: ignore[union-attr]
