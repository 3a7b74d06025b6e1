"""The verification API's rules under concurrency, on every backend: one winner, and no re-POST ever
loses an attempt that was counted."""

from __future__ import annotations

import pytest

from tests.contract.helpers import RecordingSender, run_together, wire_codes
from twostep.domain.errors import ChallengeGone, RateLimited, WrongCode
from twostep.domain.ports import Storage
from twostep.services.limits import LimitPolicy
from twostep.services.verification import (
    VerificationCreated,
    VerificationService,
    VerifyPolicy,
    verification_id,
)

PHONES = ("+14155552671", "+14155552672")


@pytest.fixture
def verification(storage: Storage) -> tuple[VerificationService, RecordingSender]:
    policy = LimitPolicy(resend_cooldown_seconds=0, sms_per_number_10min=1000, sms_per_number_day=1000)
    wiring = wire_codes(storage, policy)
    codes, sender, limits, audit, clock, hasher = (
        wiring.codes,
        wiring.sender,
        wiring.limits,
        wiring.audit,
        wiring.clock,
        wiring.hasher,
    )
    service = VerificationService(
        codes=codes,
        challenges=storage,
        counters=storage,
        hasher=hasher,
        limits=limits,
        audit=audit,
        clock=clock,
        policy=VerifyPolicy(
            default_length=6,
            default_ttl_seconds=600,
            max_ttl_seconds=600,
            default_retries=3,
            template="{code} is your code",
        ),
    )
    return service, sender


def test_fifty_parallel_right_codes_give_one_success(
    verification: tuple[VerificationService, RecordingSender],
) -> None:
    service, sender = verification
    service.create("order-1", PHONES[0], retries=10)
    code = sender.last_code()
    results = run_together(50, lambda _: service.check("order-1", code))
    successes = [r for r in results if not isinstance(r, BaseException)]
    assert len(successes) == 1
    assert all(isinstance(r, ChallengeGone) for r in results if isinstance(r, BaseException))


def test_parallel_re_posts_never_reset_the_attempts(
    verification: tuple[VerificationService, RecordingSender], storage: Storage
) -> None:
    service, sender = verification
    service.create("order-1", PHONES[0], retries=5)
    for _ in range(2):
        with pytest.raises(WrongCode):
            service.check("order-1", "0000000" if sender.last_code() != "0000000" else "1111111")
    results = run_together(20, lambda i: service.create("order-1", PHONES[i % 2]))
    created = [r for r in results if isinstance(r, VerificationCreated)]
    assert created, results
    assert all(r.attempts_left == 3 for r in created)
    assert all(
        isinstance(r, RateLimited) and r.limit == "verification_in_progress"
        for r in results
        if not isinstance(r, VerificationCreated)
    )
    stored = storage.get_challenge(verification_id("order-1"))
    assert stored is not None and stored.attempts == 2


def test_re_posts_racing_wrong_codes_lose_no_counted_attempt(
    verification: tuple[VerificationService, RecordingSender], storage: Storage
) -> None:
    service, _ = verification
    service.create("order-1", PHONES[0], retries=10, code_length=10)
    guess = "0000000000"  # wrong for every code drawn here, but for odds of about 1e-10 per code

    def act(index: int) -> object:
        if index % 5 < 2:
            return service.check("order-1", guess)
        return service.create("order-1", PHONES[index % 2], code_length=10)

    results = run_together(30, act)
    counted = sum(isinstance(r, WrongCode) for r in results)
    assert counted > 0
    stored = storage.get_challenge(verification_id("order-1"))
    assert stored is not None
    assert stored.attempts == counted
