"""The code rules through `ChallengeService` on every backend: one winner, exact attempt counts."""

from __future__ import annotations

import re

import pytest

from tests.contract.helpers import RecordingSender, run_together, wire_codes
from twostep.domain.errors import ChallengeGone, WrongCode
from twostep.domain.ports import Storage
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.limits import LimitPolicy


@pytest.fixture
def codes(storage: Storage) -> tuple[ChallengeService, RecordingSender]:
    wiring = wire_codes(storage, LimitPolicy(resend_cooldown_seconds=0))
    return wiring.codes, wiring.sender


SPEC = CodeSpec(length=6, ttl_seconds=120, max_attempts=5, template="{code} is your code")


def _issue(service: ChallengeService, sender: RecordingSender, max_attempts: int = 5) -> tuple[str, str]:
    spec = CodeSpec(length=6, ttl_seconds=120, max_attempts=max_attempts, template="{code} is your code")
    challenge = service.issue(
        challenge_id="c-1", purpose="login", subject="u", phone="+905555555555", spec=spec
    )
    match = re.match(r"\d{6}", sender.sent[-1][1])
    assert match is not None
    return challenge.id, match.group(0)


def test_fifty_parallel_right_codes_give_one_success(codes: tuple[ChallengeService, RecordingSender]) -> None:
    service, sender = codes
    challenge_id, code = _issue(service, sender, max_attempts=10)
    results = run_together(50, lambda _: service.check(challenge_id, code, "login"))
    successes = [r for r in results if not isinstance(r, BaseException)]
    assert len(successes) == 1
    assert all(isinstance(r, ChallengeGone) for r in results if isinstance(r, BaseException))


def test_fifty_parallel_wrong_guesses_use_exactly_the_budget(
    codes: tuple[ChallengeService, RecordingSender], storage: Storage
) -> None:
    service, sender = codes
    challenge_id, code = _issue(service, sender)
    wrong = "000000" if code != "000000" else "111111"
    results = run_together(50, lambda _: service.check(challenge_id, wrong, "login"))
    wrong_answers = [r for r in results if isinstance(r, WrongCode)]
    assert len(wrong_answers) == 5
    assert sorted(r.attempts_remaining for r in wrong_answers) == [0, 1, 2, 3, 4]
    assert all(isinstance(r, WrongCode | ChallengeGone) for r in results)
    assert storage.get_challenge(challenge_id).attempts == 5  # type: ignore[union-attr]
    with pytest.raises(ChallengeGone):
        service.check(challenge_id, code, "login")  # the right code is refused once the budget is gone


def test_a_code_replaced_after_the_read_is_checked_against_the_new_one(
    codes: tuple[ChallengeService, RecordingSender], storage: Storage
) -> None:
    """The caller's read is stale (a resend came between): the new code still works, the old one not."""
    service, sender = codes
    challenge_id, old_code = _issue(service, sender)
    stale = storage.get_challenge(challenge_id)
    assert stale is not None
    service.replace(stale, SPEC)
    new_code = re.match(r"\d{6}", sender.sent[-1][1]).group(0)  # type: ignore[union-attr]
    if new_code != old_code:
        with pytest.raises(WrongCode):
            service.check(challenge_id, old_code, "login", read=stale)
    assert service.check(challenge_id, new_code, "login", read=stale).id == challenge_id
    assert storage.get_challenge(challenge_id).consumed_at is not None  # type: ignore[union-attr]
