"""The verification API's rules under concurrency, on every backend: one winner, and no re-POST ever
loses an attempt that was counted."""

from __future__ import annotations

import pytest

from tests.contract.helpers import RecordingSender, run_together, wire_codes
from twostep.domain.errors import ChallengeGone, RateLimited, SmsDeliveryError, WrongCode
from twostep.domain.ports import Storage
from twostep.services.limits import LimitPolicy
from twostep.services.verification import (
    VerificationCanceled,
    VerificationChecked,
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
    guess = "0000000000"  # wrong for every code drawn here, but for odds of about 1e-10 per code
    raced = 0
    # Checks that land while a re-POST has the challenge frozen are refused, not counted; repeat until
    # some checks really raced the re-POSTs (almost always the first round).
    for round_number in range(10):
        auth_id = f"order-{round_number}"
        service.create(auth_id, PHONES[0], retries=10, code_length=10)

        def act(index: int, auth_id: str = auth_id) -> object:
            if index % 5 < 2:
                return service.check(auth_id, guess)
            return service.create(auth_id, PHONES[index % 2], code_length=10)

        results = run_together(30, act)
        counted = sum(isinstance(r, WrongCode) for r in results)
        stored = storage.get_challenge(verification_id(auth_id))
        assert stored is not None
        assert stored.attempts == counted
        raced += counted
        if raced:
            break
    assert raced > 0


def test_a_re_create_whose_text_fails_keeps_the_attempts_made(
    verification: tuple[VerificationService, RecordingSender],
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A re-create to the same number stored its new code unusable before sending it, and nothing put the
    previous one back when the text failed: the next create found no live code and started one with the
    whole budget, so every failed text gave a caller a fresh set of guesses."""
    service, sender = verification
    service.create("order-1", PHONES[0], retries=3)
    delivered = sender.last_code()
    wrong = "000000" if delivered != "000000" else "111111"
    for _ in range(2):
        with pytest.raises(WrongCode):
            service.check("order-1", wrong)

    def provider_down(to: str, body: str) -> str:
        raise SmsDeliveryError("timeout", provider="recording")

    with monkeypatch.context() as patched:
        patched.setattr(sender, "send", provider_down)
        with pytest.raises(SmsDeliveryError):
            service.create("order-1", PHONES[0])
    stored = storage.get_challenge(verification_id("order-1"))
    assert stored is not None and stored.attempts == 2
    assert service.create("order-1", PHONES[0]).attempts_left == 1
    with pytest.raises(WrongCode) as last:
        service.check("order-1", wrong)
    assert last.value.attempts_remaining == 0
    with pytest.raises(RateLimited):  # out of attempts until the code expires, not a fresh budget
        service.create("order-1", PHONES[0])


def test_the_previous_code_still_works_after_a_failed_re_create(
    verification: tuple[VerificationService, RecordingSender],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, sender = verification
    service.create("order-1", PHONES[0])
    delivered = sender.last_code()

    def provider_down(to: str, body: str) -> str:
        raise SmsDeliveryError("timeout", provider="recording")

    with monkeypatch.context() as patched:
        patched.setattr(sender, "send", provider_down)
        with pytest.raises(SmsDeliveryError):
            service.create("order-1", PHONES[0])
    # put back as it was: the code the caller holds, with its expiry
    assert service.check("order-1", delivered).auth_id == "order-1"


def test_a_put_back_never_overwrites_the_code_a_concurrent_resend_sent(
    verification: tuple[VerificationService, RecordingSender],
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, the put-back after a failed replace (an automatic fallback's: it holds no create lock) read
    the challenge and then overwrote it whole: a resend that stored its code between the two had it
    replaced by the older one, and the caller's newest code, just delivered, answered wrong. Now the older
    code goes back only while the challenge still holds the code the failed text replaced."""
    service, sender = verification
    service.create("order-1", PHONES[0])
    challenge_id = verification_id("order-1")
    previous = storage.get_challenge(challenge_id)
    assert previous is not None
    spec = service.code_spec(None, None, None, None, None)
    codes, real_send, real_get = service._codes, sender.send, storage.get_challenge

    def provider_down(to: str, body: str) -> str:
        raise SmsDeliveryError("timeout", provider="recording")

    monkeypatch.setattr(sender, "send", provider_down)
    with pytest.raises(SmsDeliveryError):
        codes.replace(previous, spec, cooldown=False)  # the fallback's text fails
    monkeypatch.setattr(sender, "send", real_send)

    def read_then_resend(wanted: str) -> object:
        """The put-back's read; a resend (that read the challenge before) stores and sends its code."""
        read = real_get(wanted)
        monkeypatch.setattr(storage, "get_challenge", real_get)
        codes.replace(previous, spec)
        return read

    monkeypatch.setattr(storage, "get_challenge", read_then_resend)
    codes.put_back(previous)
    assert service.check("order-1", sender.last_code()).auth_id == "order-1"


def test_a_cancel_racing_right_codes_leaves_exactly_one_outcome(
    verification: tuple[VerificationService, RecordingSender], storage: Storage
) -> None:
    """A cancel and checks of the right code at once: either a check used the code and the cancel says
    "verified", or the cancel won and no check succeeds, then or ever after."""
    service, sender = verification
    for round_number in range(6):
        auth_id = f"order-{round_number}"
        service.create(auth_id, PHONES[0], retries=10)
        code = sender.last_code()

        def act(index: int, auth_id: str = auth_id, code: str = code) -> object:
            return service.cancel(auth_id) if index == 0 else service.check(auth_id, code)

        results = run_together(8, act)
        cancel, checks = results[0], results[1:]
        assert isinstance(cancel, VerificationCanceled), cancel
        successes = [r for r in checks if isinstance(r, VerificationChecked)]
        assert all(isinstance(r, (VerificationChecked, ChallengeGone, WrongCode)) for r in checks), checks
        stored = storage.get_challenge(verification_id(auth_id))
        assert stored is not None
        if cancel.state == "verified":
            assert len(successes) == 1 and stored.consumed_at is not None
        else:
            assert cancel.state == "canceled" and not successes and stored.consumed_at is None
        with pytest.raises((ChallengeGone, WrongCode)):
            service.check(auth_id, code)


def test_parallel_cancels_cancel_once_and_the_rest_answer_canceled_or_retry(
    verification: tuple[VerificationService, RecordingSender], storage: Storage
) -> None:
    service, _ = verification
    service.create("order-1", PHONES[0])
    results = run_together(10, lambda _: service.cancel("order-1"))
    answered = [r for r in results if isinstance(r, VerificationCanceled)]
    assert answered and all(r.state == "canceled" for r in answered), results
    assert all(
        isinstance(r, RateLimited) and r.limit == "verification_in_progress"
        for r in results
        if not isinstance(r, VerificationCanceled)
    )
    assert service.cancel("order-1").state == "canceled"  # once the others are done
    events = [event.event for event in storage.list_audit(limit=100)]
    assert events.count("verification_canceled") == 1
