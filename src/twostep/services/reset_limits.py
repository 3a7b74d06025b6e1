"""Per email typed: wrong password-reset codes in a UTC day, a budget of the reset's own.

A reset needs no password, so anyone who knows an email can try its codes. Counted against the account's
sign-in budget (`code_limits`), those tries locked the account's second step until an administrator
unlocked it, and only for emails that have an account. This budget is keyed by the email typed (a keyed
digest, as the audit trail's), so a known and an unknown email are counted and refused alike; it refuses
only resets, and ends with its day. It bounds the guessing: `reset_code_failures_per_day` wrong codes a
day, against a code space of 10^6.
"""

from __future__ import annotations

from collections.abc import Callable

from twostep.domain.models import RequestContext
from twostep.services.counting import DAY, CounterGate, Held
from twostep.services.limits_policy import LimitPolicy

RESET_CODES_LIMIT = "reset_wrong_codes_day"


def reset_failures_key(fingerprint: str) -> str:
    """The counter of wrong reset codes for the email whose keyed digest is `fingerprint`."""
    return f"reset-fail:{fingerprint}"


class ResetLimits:
    def __init__(self, policy: LimitPolicy, gate: CounterGate, fingerprint: Callable[[str], str]) -> None:
        """`fingerprint`: the keyed digest of a normalised email (`AuditService.fingerprint`), so no
        counter key holds an address."""
        self._policy, self._gate, self._fingerprint = policy, gate, fingerprint

    def begin_reset_attempt(self, email: str, ctx: RequestContext) -> Held:
        """Count this reset code check as a wrong code up front, so concurrent checks cannot pass the
        budget; follow a code that was not wrong (right, or none compared) with `reset_attempt_not_wrong`.

        Raises:
            RateLimited("reset_wrong_codes_day"): the email's wrong reset codes of the day are spent.
        """
        key = reset_failures_key(self._fingerprint(email))
        limit = self._policy.reset_code_failures_per_day
        return self._gate.take_window(key, DAY, limit, RESET_CODES_LIMIT, ctx)

    def reset_attempt_not_wrong(self, held: Held) -> None:
        """The counted check was no wrong code (the right one, or none compared): give it back."""
        self._gate.release(held)
