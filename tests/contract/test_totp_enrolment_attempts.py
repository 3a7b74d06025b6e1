"""Conformance of a pending authenticator-app enrolment's lifetime and confirm attempts
(`EnrolmentAttempts`, one counter per enrolment) on every backend, with the race that decides the limit.

Before, `POST /me/factors/totp/confirm` counted nothing and a pending enrolment never ended: a token alone
could guess an enrolment's code without limit and get ten new recovery codes."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, run_together
from twostep.domain.clock import FixedClock
from twostep.domain.ports import Storage
from twostep.services.totp_enrolment import ENROLMENT_ATTEMPTS, ENROLMENT_SECONDS, EnrolmentAttempts

RACERS = 12


def attempts(storage: Storage) -> tuple[EnrolmentAttempts, FixedClock]:
    clock = FixedClock(NOW)
    return EnrolmentAttempts(counters=storage, clock=clock), clock


def test_an_enrolment_takes_its_attempts_then_ends(storage: Storage) -> None:
    enrolment, _ = attempts(storage)
    enrolment.open("user-1", "sealed-a")
    assert [enrolment.take("user-1", "sealed-a") for _ in range(ENROLMENT_ATTEMPTS)] == [
        True
    ] * ENROLMENT_ATTEMPTS
    assert not enrolment.take("user-1", "sealed-a"), "spent"
    assert not enrolment.take("user-1", "sealed-a"), "and stays spent"


def test_an_enrolment_never_opened_takes_nothing(storage: Storage) -> None:
    enrolment, _ = attempts(storage)
    assert not enrolment.take("user-1", "sealed-a")
    assert not enrolment.take("user-1", "sealed-a"), "a refused take opens nothing"


def test_each_enrolment_and_user_has_its_own_count(storage: Storage) -> None:
    enrolment, _ = attempts(storage)
    enrolment.open("user-1", "sealed-a")
    for _ in range(ENROLMENT_ATTEMPTS):
        enrolment.take("user-1", "sealed-a")
    enrolment.open("user-1", "sealed-b")  # the owner starts again: a new secret, sealed afresh
    assert enrolment.take("user-1", "sealed-b")
    assert not enrolment.take("user-2", "sealed-b"), "another user's enrolment is not this one"
    assert not enrolment.take("user-1", "sealed-a"), "the earlier one stays ended"


def test_an_enrolment_ends_after_its_lifetime(storage: Storage) -> None:
    enrolment, clock = attempts(storage)
    enrolment.open("user-1", "sealed-a")
    clock.advance(ENROLMENT_SECONDS - 1)
    assert enrolment.take("user-1", "sealed-a")
    clock.advance(1)
    assert not enrolment.take("user-1", "sealed-a")
    clock.advance(timedelta(days=1).total_seconds())
    assert not enrolment.take("user-1", "sealed-a"), "an expired one is not revived by a take"


def test_racing_confirmations_take_no_more_than_the_attempts(storage: Storage) -> None:
    enrolment, _ = attempts(storage)
    enrolment.open("user-1", "sealed-a")
    results = run_together(RACERS, lambda _: enrolment.take("user-1", "sealed-a"))
    assert results.count(True) == ENROLMENT_ATTEMPTS, results
