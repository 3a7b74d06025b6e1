"""Per email typed: wrong password-reset codes in a UTC day, a budget of the reset's own.

A reset needs no password, so anyone who knows an email can try its codes. Counted against the account's
sign-in budget (`code_limits`), those tries locked the account's second step until an administrator
unlocked it, and only for emails that have an account. This budget is keyed by the email typed (a keyed
digest, as the audit trail's), so a known and an unknown email are counted and refused alike; it refuses
only resets, and ends with its day. It bounds the guessing: `reset_code_failures_per_day` wrong codes a
day, against a code space of 10^6.

One email's budget was one counter, so a stranger spending it refused its owner's resets for the rest of
the day. Each client (IP, IPv6 /64; the per-IP limits' unit) now has a share of it
(`reset_code_failures_per_client_day`), so one stranger spends only their own share; the email's cap still
bounds all strangers together. A check from a device the account remembered (its owner signed in there
with both factors) spends a budget of its own instead, so even a stranger on many addresses who spent the
email's cap leaves the owner a way back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twostep.domain.models import RequestContext
from twostep.services.counting import DAY, CounterGate, Held
from twostep.services.limits_policy import LimitPolicy, ip_bucket

RESET_CODES_LIMIT = "reset_wrong_codes_day"
CLIENT_SHARE_LIMIT = "reset_wrong_codes_client_day"
OWNER_DEVICE_LIMIT = "reset_wrong_codes_device_day"


def reset_failures_key(fingerprint: str) -> str:
    """The counter of wrong reset codes for the email whose keyed digest is `fingerprint`."""
    return f"reset-fail:{fingerprint}"


def client_share_key(fingerprint: str, ip: str) -> str:
    """The counter of one client's wrong reset codes for that email (IPv6 counted per /64)."""
    return f"reset-fail:{fingerprint}:ip:{ip_bucket(ip)}"


def owner_device_key(fingerprint: str) -> str:
    """The counter of wrong reset codes for that email sent from the account's remembered devices."""
    return f"reset-fail:{fingerprint}:device"


class ResetLimits:
    def __init__(self, policy: LimitPolicy, gate: CounterGate, fingerprint: Callable[[str], str]) -> None:
        """`fingerprint`: the keyed digest of a normalised email (`AuditService.fingerprint`), so no
        counter key holds an address."""
        self._policy, self._gate, self._fingerprint = policy, gate, fingerprint

    def begin_reset_attempt(
        self, email: str, ctx: RequestContext, *, from_owner_device: bool = False
    ) -> list[Held]:
        """Count this reset code check as a wrong code up front, so concurrent checks cannot pass the
        budget; follow a code that was not wrong (right, or none compared) with `reset_attempt_not_wrong`.
        `from_owner_device`: the request came from a device the account remembered (checked by the caller).

        Raises:
            RateLimited("reset_wrong_codes_day"): the email's wrong reset codes of the day are spent;
            ("reset_wrong_codes_client_day"): this client's share of them; ("reset_wrong_codes_device_day"):
            the owner's devices' own budget. Nothing is taken then.
        """
        fingerprint = self._fingerprint(email)
        policy, gate = self._policy, self._gate
        if from_owner_device:
            asks = [
                gate.window_ask(
                    owner_device_key(fingerprint), DAY, policy.reset_code_failures_per_day, OWNER_DEVICE_LIMIT
                )
            ]
        else:
            asks = [
                gate.window_ask(
                    reset_failures_key(fingerprint),
                    DAY,
                    policy.reset_code_failures_per_day,
                    RESET_CODES_LIMIT,
                )
            ]
            if ctx.ip is not None:  # the CLI and in-process callers have no client to share with
                share = policy.reset_code_failures_per_client_day
                asks.append(
                    gate.window_ask(client_share_key(fingerprint, ctx.ip), DAY, share, CLIENT_SHARE_LIMIT)
                )
        return gate.take_all(asks, ctx) or []

    def reset_attempt_not_wrong(self, held: Sequence[Held]) -> None:
        """The counted check was no wrong code (the right one, or none compared): give it back."""
        for units in held:
            self._gate.release(units)
