"""Which second factors an account can use at sign-in, and checking an authenticator-app or recovery
code. The login challenge's attempt budget gates every check (see LoginService.complete)."""

from __future__ import annotations

from collections.abc import Callable

from twostep.domain.clock import Clock
from twostep.domain.factor_errors import FactorUnavailable
from twostep.domain.factor_ports import FactorStorage
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.factors import Factor
from twostep.domain.models import User
from twostep.domain.otp import normalise_submitted_code
from twostep.domain.recovery import RecoveryCodeHasher
from twostep.domain.totp import DIGITS, SecretSealer, matching_step
from twostep.services.audit import AuditService
from twostep.services.factors import LOW_RECOVERY_CODES

MAX_RECOVERY_CODE_LENGTH = 40


class SecondFactorService:
    def __init__(
        self,
        *,
        store: FactorStorage,
        sealer: SecretSealer,
        recovery_hasher: RecoveryCodeHasher,
        audit: AuditService,
        clock: Clock,
    ) -> None:
        self._store, self._sealer, self._recovery = store, sealer, recovery_hasher
        self._audit, self._clock = audit, clock

    def available(self, user: User, enrolled: EnrolledFactors | None = None) -> tuple[Factor, ...]:
        """The factors this account can sign in with, strongest first; `enrolled`: already read with
        the user (`find_user_signing_in`), else read now."""
        if enrolled is None:
            enrolled = self._store.enrolled_factors(user.id)  # one storage request
        factors: list[Factor] = []
        if enrolled.passkeys:
            factors.append("passkey")
        if enrolled.totp:
            factors.append("totp")
        if user.phone is not None:
            factors.append("sms")
        # Recovery codes sign in while any is left, whatever the other factor (the codes made with an app
        # outlive its removal, and an account with only SMS may make some): a sign-in offers what it takes.
        # With no other factor there is no second step to take one in.
        if factors and enrolled.recovery_codes > 0:
            factors.append("recovery")
        return tuple(factors)

    @staticmethod
    def preferred(factors: tuple[Factor, ...]) -> Factor | None:
        """The factor asked for first: an authenticator app saves a text message; SMS otherwise.

        A passkey needs the browser's prompt, so it is offered but never the one expected.
        """
        for factor in ("totp", "sms"):
            if factor in factors:
                return factor
        return None

    def totp_checker(self, user_id: str, raw_code: object) -> Callable[[], bool]:
        """A check that is true when the code is the app's code (±1 step) and that step was not used
        before. The input is validated now, the step spent only when the check runs.

        Raises: FactorUnavailable (no authenticator app), InvalidInput (not digits).
        """
        factor = self._store.get_totp(user_id)
        if factor is None or factor.secret_sealed is None:
            raise FactorUnavailable("This account has no authenticator app.")
        code = normalise_submitted_code(raw_code, DIGITS)
        secret = self._sealer.open(user_id, factor.secret_sealed)

        def check() -> bool:
            step = matching_step(secret, code, self._clock.now())
            # A replayed code (its step already used) is refused like a wrong one: it proves nothing new.
            return step is not None and self._store.advance_totp_step(user_id, step)

        return check

    def recovery_checker(self, user_id: str, raw_code: object) -> Callable[[], bool]:
        """A check that spends the recovery code if it is one of the user's unused codes.

        Raises: FactorUnavailable (not a string of sensible length).
        """
        if not isinstance(raw_code, str) or not 1 <= len(raw_code) <= MAX_RECOVERY_CODE_LENGTH:
            raise FactorUnavailable("A recovery code looks like xxxxx-xxxxx.", field="otp")
        code_hash = self._recovery.digest(user_id, raw_code)

        def check() -> bool:
            used = self._store.use_recovery_code(user_id, code_hash, self._clock.now())
            if used:
                left = self._store.count_recovery_codes(user_id)
                self._audit.record("recovery_code_used", user_id=user_id, remaining=str(left))
            return used

        return check

    def recovery_left(self, user_id: str) -> int:
        return self._store.count_recovery_codes(user_id)

    @staticmethod
    def running_low(remaining: int) -> bool:
        return remaining <= LOW_RECOVERY_CODES
