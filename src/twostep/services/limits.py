"""Abuse and cost limits over atomic storage counters.

Fixed windows: a counter's key names its window, and the counter expires with it. Every refusal raises
`RateLimited` with the limit's name and the seconds until it lifts. Counters are keyed by what the
caller typed (normalised), never by whether an account exists, so refusals reveal nothing about who
has an account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.errors import DestinationNotAllowed, RateLimited
from twostep.domain.identity import phone_country
from twostep.domain.models import NO_CONTEXT, RequestContext
from twostep.domain.ports import CounterStore
from twostep.services.audit import AuditService

MINUTE, HOUR, DAY = 60, 3600, 86400
SECOND_FACTOR_LOCK_SECONDS = 30 * DAY


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    resend_cooldown_seconds: int = 30
    sms_per_number_10min: int = 5
    sms_per_number_day: int = 10
    sms_hourly_budget: int = 1000
    sms_allowed_countries: tuple[str, ...] = ()
    login_free_failures: int = 5
    login_max_delay_seconds: int = 900
    ip_login_per_minute: int = 60
    ip_register_per_hour: int = 30
    ip_verify_create_per_hour: int = 60
    otp_account_failure_limit: int = 100


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


class LimitsService:
    def __init__(
        self, counters: CounterStore, policy: LimitPolicy, clock: Clock, audit: AuditService
    ) -> None:
        self._counters = counters
        self._policy = policy
        self._clock = clock
        self._audit = audit

    @property
    def policy(self) -> LimitPolicy:
        return self._policy

    # --- generic windows ---
    def _count_in_window(self, key: str, window: int, limit: int, name: str, ctx: RequestContext) -> None:
        now = self._clock.now()
        start = math.floor(now.timestamp() / window) * window
        window_end = datetime.fromtimestamp(start + window, tz=now.tzinfo)
        value = self._counters.increment_counter(f"{key}@{window}:{start}", 1, now, window_end)
        if value > limit:
            self._refuse(name, _seconds_until(window_end, now), ctx)

    def _refuse(self, name: str, retry_after: int, ctx: RequestContext) -> None:
        self._audit.record("limit_hit", ctx=ctx, limit=name)
        raise RateLimited(name, retry_after)

    # --- per client IP ---
    def check_ip(self, action: str, ctx: RequestContext) -> None:
        """Per-IP rate of `login`, `register` or `verification_create`."""
        if ctx.ip is None:
            return
        window, limit = {
            "login": (MINUTE, self._policy.ip_login_per_minute),
            "register": (HOUR, self._policy.ip_register_per_hour),
            "verification_create": (HOUR, self._policy.ip_verify_create_per_hour),
        }[action]
        self._count_in_window(f"ip:{action}:{ctx.ip}", window, limit, f"ip_{action}_rate", ctx)

    # --- per account: progressive delay after failed passwords, never a permanent lock ---
    def check_login_allowed(self, email: str, ctx: RequestContext) -> None:
        self.check_ip("login", ctx)
        lock = self._counters.get_counter(f"login-delay:{email}", self._clock.now())
        if lock is not None:
            self._refuse("account_login_delay", _seconds_until(lock.expires_at, self._clock.now()), ctx)

    def record_login_failure(self, email: str) -> None:
        now = self._clock.now()
        failures = self._counters.increment_counter(f"login-fail:{email}", 1, now, now + timedelta(days=1))
        excess = failures - self._policy.login_free_failures
        if excess > 0:
            delay = min(self._policy.login_max_delay_seconds, 2 ** min(excess - 1, 20))
            self._counters.increment_counter(f"login-delay:{email}", 1, now, now + timedelta(seconds=delay))

    def record_login_success(self, email: str) -> None:
        self._counters.delete_counter(f"login-fail:{email}")
        self._counters.delete_counter(f"login-delay:{email}")

    # --- per account: consecutive wrong codes across logins and resends (NIST 800-63B) ---
    def check_second_factor_allowed(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> None:
        now = self._clock.now()
        failures = self._counters.get_counter(f"otp-fail:{user_id}", now)
        if failures is not None and failures.value >= self._policy.otp_account_failure_limit:
            self._audit.record("second_factor_locked", ctx=ctx, user_id=user_id)
            raise RateLimited("second_factor_locked", _seconds_until(failures.expires_at, now))

    def record_code_failure(self, user_id: str) -> None:
        now = self._clock.now()
        expires = now + timedelta(seconds=SECOND_FACTOR_LOCK_SECONDS)
        self._counters.increment_counter(f"otp-fail:{user_id}", 1, now, expires)

    def reset_code_failures(self, user_id: str) -> None:
        self._counters.delete_counter(f"otp-fail:{user_id}")

    # --- per destination number and service-wide: what an SMS costs ---
    def reserve_sms(self, phone: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Admit one SMS to `phone` or raise; call before the code is created or sent.

        Raises:
            DestinationNotAllowed: the number's country is not on the allow-list.
            RateLimited: cooldown, per-number caps or the hourly budget.
        """
        allowed = self._policy.sms_allowed_countries
        if allowed and phone_country(phone) not in allowed:
            self._audit.record("limit_hit", ctx=ctx, phone=phone, limit="country_not_allowed")
            raise DestinationNotAllowed()
        self._cooldown(phone, ctx)
        self._count_in_window(
            f"sms:{phone}", 10 * MINUTE, self._policy.sms_per_number_10min, "sms_per_number_10min", ctx
        )
        self._count_in_window(f"sms:{phone}", DAY, self._policy.sms_per_number_day, "sms_per_number_day", ctx)
        self._count_in_window("sms:all", HOUR, self._policy.sms_hourly_budget, "sms_hourly_budget", ctx)

    def _cooldown(self, phone: str, ctx: RequestContext) -> None:
        seconds = self._policy.resend_cooldown_seconds
        if seconds <= 0:
            return
        now = self._clock.now()
        key = f"sms-cooldown:{phone}"
        if self._counters.increment_counter(key, 1, now, now + timedelta(seconds=seconds)) > 1:
            current = self._counters.get_counter(key, now)
            retry = _seconds_until(current.expires_at, now) if current else seconds
            self._refuse("resend_cooldown", retry, ctx)
