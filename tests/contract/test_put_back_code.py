"""`put_back_code`: a failed resend's code swapped back for the one it replaced, only while it is still the
code stored, so a resend or create that stored another code meanwhile keeps it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.contract.helpers import NOW, make_challenge, run_together
from twostep.domain.models import Challenge
from twostep.domain.ports import Storage

FAILED = "the failed resend's hmac"
EXPIRY = NOW + timedelta(seconds=300)


def stored_after_a_failed_resend(storage: Storage, subject: str = "put-back-user") -> Challenge:
    """A challenge with two wrong attempts whose resend stored `FAILED`, unusable, and then failed."""
    challenge = make_challenge(subject=subject, max_attempts=5)
    storage.put_challenge(replace(challenge, attempts=2))
    assert storage.replace_code(challenge.id, FAILED, NOW - timedelta(seconds=1), NOW, "whatsapp") is not None
    return challenge


def test_the_code_goes_back_with_the_attempts_and_sends_as_stored(storage: Storage) -> None:
    previous = stored_after_a_failed_resend(storage)
    assert storage.put_back_code(previous.id, FAILED, previous.code_hmac, EXPIRY, "sms")
    stored = storage.get_challenge(previous.id)
    assert stored is not None
    assert (stored.code_hmac, stored.expires_at, stored.channel) == (previous.code_hmac, EXPIRY, "sms")
    assert (stored.attempts, stored.sends) == (2, previous.sends + 1)
    assert storage.count_attempt(previous.id, NOW) is not None  # usable again


def test_another_code_stored_since_stays(storage: Storage) -> None:
    previous = stored_after_a_failed_resend(storage)
    newer = storage.replace_code(previous.id, "a newer resend's hmac", EXPIRY, NOW)
    assert newer is not None
    assert not storage.put_back_code(previous.id, FAILED, previous.code_hmac, EXPIRY, "sms")
    assert storage.get_challenge(previous.id) == newer


def test_nothing_goes_back_to_a_consumed_or_missing_challenge(storage: Storage) -> None:
    previous = stored_after_a_failed_resend(storage)
    assert storage.consume_challenge(previous.id, NOW)
    assert not storage.put_back_code(previous.id, FAILED, previous.code_hmac, EXPIRY, "sms")
    stored = storage.get_challenge(previous.id)
    assert stored is not None and stored.code_hmac == FAILED
    assert not storage.put_back_code("missing", FAILED, previous.code_hmac, EXPIRY, "sms")
    assert storage.get_challenge("missing") is None


def test_a_put_back_racing_a_resend_never_overwrites_its_code(storage: Storage) -> None:
    """Whichever lands first, the resend's code is the one stored at the end."""
    for round_ in range(6):
        previous = stored_after_a_failed_resend(storage, subject=f"put-back-race-{round_}")

        def act(index: int, previous: Challenge = previous) -> object:
            if index == 0:
                return storage.put_back_code(previous.id, FAILED, previous.code_hmac, EXPIRY, "sms")
            return storage.replace_code(previous.id, "the racing resend's hmac", EXPIRY, NOW)

        put_back, resent = run_together(2, act)
        assert isinstance(put_back, bool) and isinstance(resent, Challenge)
        stored = storage.get_challenge(previous.id)
        assert stored is not None and stored.code_hmac == "the racing resend's hmac"
        assert stored.attempts == 2
