"""Checking one-time codes: the attempt counted atomically before comparing, expiry checked before the
code, single use by one conditional write (SPEC section 3), for a texted or emailed code (`check`,
`check_owned`) and for any other factor (`check_with`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from twostep.domain.clock import Clock
from twostep.domain.errors import (
    ChallengeExhausted,
    ChallengeExpired,
    ChallengeNotFound,
    ChallengeUsed,
    WrongCode,
)
from twostep.domain.models import NO_CONTEXT, Challenge, ChallengePurpose, CodeUse, RequestContext
from twostep.domain.otp import CodeHasher, normalise_submitted_code
from twostep.domain.ports import ChallengeStore
from twostep.services.audit import AuditService
from twostep.services.code_funnel import CodeFunnel
from twostep.services.limits import LimitsService

T = TypeVar("T")


class CodeChecks:
    def __init__(
        self,
        *,
        store: ChallengeStore,
        hasher: CodeHasher,
        limits: LimitsService,
        audit: AuditService,
        clock: Clock,
        funnel: CodeFunnel,
    ) -> None:
        self._store, self._hasher = store, hasher
        self._limits, self._audit, self._clock = limits, audit, clock
        self._count = funnel.count

    def check(
        self,
        challenge_id: str,
        raw_code: object,
        purpose: ChallengePurpose,
        ctx: RequestContext = NO_CONTEXT,
        read: Challenge | None = None,
        binding: str = "",
        count_verified: bool = True,
    ) -> Challenge:
        """Consume the challenge if `raw_code` is its code; `read` saves a read the caller already did
        (only to check purpose and shape: the attempt gate and single use are decided by storage).
        `binding` must be what the code was bound to (`CodeSpec.binding`), or the code does not match.
        `count_verified=False`: the caller counts the used code for the fraud guard itself (a sign-in
        does it in the same storage request as the account's reset, `LimitsService.code_succeeded`).

        Raises:
            ChallengeNotFound, ChallengeExpired, ChallengeUsed, ChallengeExhausted, WrongCode, InvalidInput.
        """
        challenge = (
            read if read is not None and read.id == challenge_id else self._store.get_challenge(challenge_id)
        )
        if challenge is None or challenge.purpose != purpose:
            raise ChallengeNotFound()
        code = normalise_submitted_code(raw_code, challenge.code_length)
        now = self._clock.now()
        try:
            self._ensure_usable(challenge, now)
        except ChallengeExpired:
            self._count("expired", purpose, challenge.phone)
            raise
        # Matched against the code read above, so one write counts the attempt and, for the right code
        # still stored, consumes the challenge; a code replaced since the read is matched again below.
        right = self._hasher.matches(challenge_id, code, challenge.code_hmac, binding)
        counted = self._store.attempt_challenge(challenge_id, now, challenge.code_hmac if right else None)
        if counted is None:
            self._ensure_usable(self._store.get_challenge(challenge_id), now)
            raise ChallengeExhausted()
        if counted.consumed_at is None:
            if counted.code_hmac == challenge.code_hmac or not self._hasher.matches(
                challenge_id, code, counted.code_hmac, binding
            ):
                self._count("failed", purpose, challenge.phone)
                raise WrongCode(counted.attempts_remaining)
            if not self._store.consume_challenge(challenge_id, now):
                raise ChallengeUsed()
        self._count("verified", purpose, challenge.phone)
        if counted.phone and count_verified:  # a texted code (not an emailed one) was used: a person
            self._limits.sms.record_verified(counted.phone)
        return counted

    def use_right_code(
        self, challenge: Challenge, raw_code: object, write: Callable[[CodeUse], T | None]
    ) -> T | None:
        """`check` in one storage request with what the code opens: when `raw_code` is the code of
        `challenge` as the caller read it, `write` stores the code's use (`CodeUse`) with the rest, all
        or none. None, nothing stored, when the code is not that code, the challenge as read cannot take
        it, or `write` stored nothing (the challenge changed since, or the rest was held back): the
        caller then `check`s, which decides and says why, as if this had not been tried.

        Raises: InvalidInput (not a code of the challenge's length).
        """
        code = normalise_submitted_code(raw_code, challenge.code_length)
        now = self._clock.now()
        if not challenge.open_at(now) or not self._hasher.matches(challenge.id, code, challenge.code_hmac):
            return None
        done = write(CodeUse(challenge.id, challenge.code_hmac, challenge.channel, now))
        if done is not None:
            self._count("verified", challenge.purpose, challenge.phone)
        return done

    def matches_read(self, challenge: Challenge, raw_code: object, binding: str = "") -> bool:
        """Whether `raw_code` is the code of `challenge` as the caller read it: no storage request, no
        attempt counted (`check` decides; the stored code may have been replaced since the read).

        Raises: InvalidInput (not a code of the challenge's length).
        """
        code = normalise_submitted_code(raw_code, challenge.code_length)
        return bool(challenge.code_hmac) and self._hasher.matches(
            challenge.id, code, challenge.code_hmac, binding
        )

    def check_with(self, challenge: Challenge, matches: Callable[[Challenge], bool]) -> Challenge:
        """The gate of `check` for a factor other than the texted code (an authenticator app, a
        recovery code, a passkey): count an attempt, then ask `matches` (after the count, so every
        guess costs one), then consume. No SMS metrics or fraud-guard signal: nothing was texted.

        Raises:
            ChallengeNotFound, ChallengeExpired, ChallengeUsed, ChallengeExhausted, WrongCode.
        """
        now = self._clock.now()
        self._ensure_usable(challenge, now)
        counted = self._store.count_attempt(challenge.id, now)
        if counted is None:
            self._ensure_usable(self._store.get_challenge(challenge.id), now)
            raise ChallengeExhausted()
        if not matches(counted):
            raise WrongCode(counted.attempts_remaining)
        if not self._store.consume_challenge(challenge.id, now):
            raise ChallengeUsed()
        return counted

    def purpose_of(self, challenge_id: str) -> ChallengePurpose | None:
        """What a challenge is for (None: no such challenge)."""
        challenge = self._store.get_challenge(challenge_id)
        return None if challenge is None else challenge.purpose

    def check_owned(
        self,
        challenge_id: str,
        raw_code: object,
        purpose: ChallengePurpose,
        subject: str,
        ctx: RequestContext,
    ) -> Challenge:
        """`check` for a signed-in account's own code (a change): the challenge must be `subject`'s, and
        the account's wrong-code budget (the sign-in one) counts every comparison.

        Raises:
            ChallengeNotFound, ChallengeGone (410 family), WrongCode, RateLimited, InvalidInput.
        """
        challenge = self._store.get_challenge(challenge_id)
        if challenge is None or challenge.purpose != purpose or challenge.subject != subject:
            raise ChallengeNotFound()
        count = self._limits.begin_code_attempt(subject, ctx)
        try:
            checked = self.check(challenge_id, raw_code, purpose, ctx, read=challenge)
        except WrongCode:
            self._audit.record("code_failed", ctx=ctx, user_id=subject or None, purpose=purpose)
            self._limits.code_attempt_failed(subject, count, ctx)
            raise
        except Exception:
            self._limits.code_attempt_void(subject)
            raise
        self._limits.reset_code_failures(subject)
        return checked

    def check_reset(
        self,
        challenge: Challenge,
        raw_code: object,
        email: str,
        ctx: RequestContext,
        *,
        from_owner_device: bool = False,
    ) -> Challenge:
        """`check` for a password reset's code, or an address claim's (`challenge` as read, of either
        purpose): every comparison counts against the reset budget of `email`, the address the reset or
        claim was requested for (`LimitsService.begin_reset_attempt`), never the account's sign-in budget:
        neither needs a password, so a stranger's wrong codes there must not lock the owner's sign-in,
        nor answer differently for an email that has an account. `from_owner_device`: the request came
        from a device the account remembered, which spends a budget of its own.

        Raises:
            ChallengeNotFound, ChallengeGone (410 family), WrongCode, RateLimited, InvalidInput.
        """
        held = self._limits.begin_reset_attempt(email, ctx, from_owner_device=from_owner_device)
        try:
            checked = self.check(challenge.id, raw_code, challenge.purpose, ctx, read=challenge)
        except WrongCode:
            self._audit.record(
                "code_failed", ctx=ctx, user_id=challenge.subject or None, purpose=challenge.purpose
            )
            raise
        except Exception:
            self._limits.reset_attempt_not_wrong(held)
            raise
        self._limits.reset_attempt_not_wrong(held)
        return checked

    @staticmethod
    def _ensure_usable(challenge: Challenge | None, now: datetime) -> None:
        if challenge is None:
            raise ChallengeNotFound()
        ensure_open(challenge, now)


def ensure_open(challenge: Challenge, now: datetime) -> None:
    """A challenge that can still take a code: not used, not expired, attempts left (else the error)."""
    if challenge.consumed_at is not None:
        raise ChallengeUsed()
    if challenge.expires_at <= now:
        raise ChallengeExpired()
    if challenge.attempts >= challenge.max_attempts:
        raise ChallengeExhausted()
