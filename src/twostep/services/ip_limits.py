"""Per client IP: how many logins, registrations and verifications an address may start per window."""

from __future__ import annotations

from twostep.domain.clock import Clock
from twostep.domain.models import RequestContext
from twostep.domain.ports import CounterStore
from twostep.services.counting import HOUR, MINUTE, CounterGate, seconds_until, window_of
from twostep.services.limit_report import note_limit
from twostep.services.limits_policy import LimitPolicy, ip_bucket


def ip_key(action: str, bucket: str, window: int, start: int) -> str:
    """The counter of `action`s from the IP bucket `bucket` in the window of `window` s at `start`."""
    return f"ip:{action}:{bucket}@{window}:{start}"


class IpLimits:
    def __init__(self, counters: CounterStore, policy: LimitPolicy, clock: Clock, gate: CounterGate) -> None:
        self._counters, self._policy, self._clock, self._gate = counters, policy, clock, gate

    def check_ip(self, action: str, ctx: RequestContext) -> None:
        """Count one `login`, `register` or `verification_create` from the caller's IP.

        Raises:
            RateLimited: the IP's rate for that action is used up (the refused request counts too).
        """
        if ctx.ip is None or (ctx.tenant is not None and action == "verification_create"):
            return  # a keyed tenant is held to its own rates (SmsAdmission), not its server's IP
        window, limit = self.window_and_cap(action)
        now = self._clock.now()
        start, end = window_of(now, window)
        key = ip_key(action, ip_bucket(ctx.ip), window, start)
        # Kept even when refused: a flooding address stays refused until its window ends, never longer.
        count = self._counters.increment_counter(key, 1, now, end)
        if count > limit:
            self._gate.refuse(f"ip_{action}_rate", seconds_until(end, now), ctx, quota=limit, window=window)
        note_limit(f"ip_{action}_rate", limit, window, count, seconds_until(end, now))

    def window_and_cap(self, action: str) -> tuple[int, int]:
        """The window (seconds) and the cap of `action` per IP."""
        return {
            "login": (MINUTE, self._policy.ip_login_per_minute),
            "register": (HOUR, self._policy.ip_register_per_hour),
            "verification_create": (HOUR, self._policy.ip_verify_create_per_hour),
        }[action]
