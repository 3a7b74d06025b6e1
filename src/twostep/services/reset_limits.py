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

The resets asked for have a daily budget per email typed of the same shape (`count_reset_request`): each
reset's code goes to the account's number or mailbox and counts against the caps its sign-ins need, so
without one a stranger asking for resets spent the account's texts of the day.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twostep.domain.models import RequestContext
from twostep.services.counting import DAY, CounterGate, Held
from twostep.services.limits_policy import LimitPolicy, ip_bucket

RESET_CODES_LIMIT = "reset_wrong_codes_day"
CLIENT_SHARE_LIMIT = "reset_wrong_codes_client_day"
OWNER_DEVICE_LIMIT = "reset_wrong_codes_device_day"
REQUESTS_LIMIT = "reset_requests_day"
REQUESTS_CLIENT_LIMIT = "reset_requests_client_day"
REQUESTS_DEVICE_LIMIT = "reset_requests_device_day"


@dataclass(frozen=True, slots=True)
class _Budget:
    """One of an email's daily reset budgets: its counters' key prefix, its caps and the limits' names."""

    prefix: str
    per_email: int
    per_client: int
    names: tuple[str, str, str]  # the email's cap, a client's share, the owner's devices' own


def client_share_key(prefix: str, fingerprint: str, ip: str) -> str:
    """The counter of one client's share of that email's budget (IPv6 counted per /64)."""
    return f"{prefix}:{fingerprint}:ip:{ip_bucket(ip)}"


def owner_device_key(prefix: str, fingerprint: str) -> str:
    """The counter of that email's budget of its own for the account's remembered devices."""
    return f"{prefix}:{fingerprint}:device"


class ResetLimits:
    def __init__(self, policy: LimitPolicy, gate: CounterGate, fingerprint: Callable[[str], str]) -> None:
        """`fingerprint`: the keyed digest of a normalised email (`AuditService.fingerprint`), so no
        counter key holds an address."""
        self._gate, self._fingerprint = gate, fingerprint
        self._codes = _Budget(
            "reset-fail",
            policy.reset_code_failures_per_day,
            policy.reset_code_failures_per_client_day,
            (RESET_CODES_LIMIT, CLIENT_SHARE_LIMIT, OWNER_DEVICE_LIMIT),
        )
        self._requests = _Budget(
            "reset-req",
            policy.reset_requests_per_day,
            policy.reset_requests_per_client_day,
            (REQUESTS_LIMIT, REQUESTS_CLIENT_LIMIT, REQUESTS_DEVICE_LIMIT),
        )

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
        return self._take(self._codes, email, ctx, from_owner_device)

    def reset_attempt_not_wrong(self, held: Sequence[Held]) -> None:
        """The counted check was no wrong code (the right one, or none compared): give it back."""
        for units in held:
            self._gate.release(units)

    def count_reset_request(
        self, email: str, ctx: RequestContext, *, from_owner_device: bool = False
    ) -> None:
        """Count one reset requested for `email` (known or not: the same counters, the same answer).

        A reset's code is texted or emailed to the account, and its sends count against the account's
        and the number's caps, which its sign-ins need too: a stranger asking for resets all day spent
        them, and the owner's sign-in was refused until the day ended. This bounds what strangers can
        ask for below those caps, a client only its share, and the owner's remembered devices apart.

        Raises:
            RateLimited("reset_requests_day" / "reset_requests_client_day" / "reset_requests_device_day").
        """
        self._take(self._requests, email, ctx, from_owner_device)

    def _take(self, budget: _Budget, email: str, ctx: RequestContext, from_owner_device: bool) -> list[Held]:
        """One unit of `budget` for `email`: the owner's devices' own, or the email's cap and the client's
        share together, in one storage request that takes nothing when either refuses."""
        fingerprint = self._fingerprint(email)
        gate, (email_cap, client_share, device_own) = self._gate, budget.names
        if from_owner_device:
            key = owner_device_key(budget.prefix, fingerprint)
            asks = [gate.window_ask(key, DAY, budget.per_email, device_own)]
        else:
            asks = [gate.window_ask(f"{budget.prefix}:{fingerprint}", DAY, budget.per_email, email_cap)]
            if ctx.ip is not None:  # the CLI and in-process callers have no client to share with
                key = client_share_key(budget.prefix, fingerprint, ctx.ip)
                asks.append(gate.window_ask(key, DAY, budget.per_client, client_share))
        return gate.take_all(asks, ctx) or []
