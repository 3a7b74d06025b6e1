"""A code stored unusable becomes usable only by arming it with its own HMAC, and never after use."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.contract.helpers import NOW, make_challenge
from twostep.domain.ports import Storage
from twostep.services.challenges import unusable_until_sent

LATER = NOW + timedelta(minutes=2)
UNSENT = unusable_until_sent(NOW)  # stored unusable until its message went out


def test_an_undelivered_code_counts_no_attempt_until_armed(storage: Storage) -> None:
    challenge = make_challenge(expires_at=UNSENT)
    storage.put_challenge(challenge)
    assert storage.count_attempt(challenge.id, NOW) is None  # unusable before delivery
    other_code = replace(challenge, code_hmac="another code's hmac", expires_at=LATER)
    assert storage.arm_challenge_audited(other_code, ()) is None
    armed = storage.arm_challenge_audited(replace(challenge, expires_at=LATER), ())
    assert armed is not None and armed.expires_at == LATER
    counted = storage.count_attempt(challenge.id, NOW)
    assert counted is not None and counted.attempts == 1


def test_a_used_or_missing_challenge_is_never_armed_again(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    assert storage.consume_challenge(challenge.id, NOW)
    assert storage.arm_challenge_audited(replace(challenge, expires_at=LATER), ()) is None
    assert (
        storage.arm_challenge_audited(replace(challenge, id="no-such-challenge", expires_at=LATER), ())
        is None
    )
