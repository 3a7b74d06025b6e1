"""A pending authenticator-app enrolment's lifetime and its confirm attempts.

`POST /me/factors/totp/confirm` needs only an access token (the password was asked when the enrolment
began), and a right code turns the app on and hands out ten new recovery codes. Without a limit, a stolen
token could guess the code of an enrolment its owner began and left. So each enrolment has one counter,
keyed by its sealed secret (sealed afresh, with a random nonce, at every start): opened at 1 when the
enrolment begins, for `ENROLMENT_SECONDS`; every confirm takes one attempt before its code is compared,
and after `ENROLMENT_ATTEMPTS` the enrolment is void. The counter store's batch is atomic on every
backend, so concurrent guesses cannot pass the limit either.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from twostep.domain.clock import Clock
from twostep.domain.counter_batch import ENDED, CounterChange
from twostep.domain.ports import CounterStore

ENROLMENT_SECONDS = 900  # time to install an app, scan the code and type one
ENROLMENT_ATTEMPTS = 5  # codes, right or wrong, one enrolment may be confirmed with
OPENED = 1  # the counter's value while no attempt was taken: a missing one reads as 1 after an attempt


def enrolment_key(user_id: str, pending_sealed: str) -> str:
    """The counter of one enrolment (a digest of its sealed secret: the key holds nothing secret)."""
    digest = hashlib.sha256(pending_sealed.encode()).hexdigest()[:32]
    return f"totp-enrol:{user_id}:{digest}"


class EnrolmentAttempts:
    def __init__(self, *, counters: CounterStore, clock: Clock) -> None:
        self._counters, self._clock = counters, clock

    def open(self, user_id: str, pending_sealed: str) -> None:
        """Start the enrolment's lifetime and attempts (whatever an enrolment of this secret held)."""
        expires_at = self._clock.now() + timedelta(seconds=ENROLMENT_SECONDS)
        opened = CounterChange(enrolment_key(user_id, pending_sealed), OPENED, expires_at, restart=True)
        self._counters.change_counters([opened], self._clock.now())

    def take(self, user_id: str, pending_sealed: str) -> bool:
        """Take one attempt, before its code is compared. False when the enrolment has ended: it expired,
        its attempts are spent, or it was never opened (then nothing is taken)."""
        # A missing or expired counter starts at the amount, already ended (ENDED): the value 1 says
        # so, and leaves nothing live behind. A live one is at least OPENED + 1 after this attempt.
        attempt = CounterChange(
            enrolment_key(user_id, pending_sealed),
            1,
            ENDED,
            limit=OPENED + ENROLMENT_ATTEMPTS,
            read=True,
        )
        batch = self._counters.change_counters([attempt], self._clock.now())
        value = batch.values[0] if batch.values else None
        return batch.applied and value is not None and value > OPENED
