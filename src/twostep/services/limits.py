"""Abuse and cost limits over atomic storage counters.

Fixed windows: a counter's key names its window, and the counter expires with it. A fixed window lets
up to twice a cap through across one window boundary; the per-number cooldown spaces those sends out,
and the service-wide hourly budget is the hard stop on cost, so the simpler fixed window is kept.

Every limit takes its counter with one atomic increment *before* deciding, so concurrent callers can
never all slip under a cap. A refused attempt gives back what it took (a compensating decrement), so a
refusal never eats the budget, another number's cap, or extends a delay. Every refusal raises
`RateLimited` with the limit's name and the seconds until it lifts. Counters are keyed by what the caller
typed (normalised), never by whether an account exists, so refusals reveal nothing about who has one.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from twostep.domain.clock import Clock
from twostep.domain.errors import DestinationNotAllowed, RateLimited
from twostep.domain.identity import phone_country
from twostep.domain.models import NO_CONTEXT, RequestContext
from twostep.domain.ports import CounterStore
from twostep.services.audit import AuditService

logger = logging.getLogger("twostep.limits")

MINUTE, HOUR, DAY = 60, 3600, 86400
# Consecutive wrong codes are remembered until a correct code or `twostep users unlock` (NIST 800-63B
# §3.2.2 has no time window); the long expiry only lets storage drop abandoned counters eventually.
SECOND_FACTOR_MEMORY_SECONDS = 3650 * DAY
# The lock does not lift by waiting; Retry-After on it is advice not to retry before a day has passed.
SECOND_FACTOR_LOCKED_RETRY_SECONDS = DAY
LOGIN_FAILURE_MEMORY_SECONDS = DAY

MESSAGES = {
    "ip_login_rate": "Too many sign-in attempts from this network; try again later.",
    "ip_register_rate": "Too many sign-ups from this network; try again later.",
    "ip_verification_create_rate": "Too many verification requests from this network; try again later.",
    "account_login_delay": "Too many failed sign-ins for this email; wait before trying again.",
    "account_login_cap": "Too many failed sign-ins for this email from many places; wait before trying again.",
    "second_factor_locked": (
        "Too many wrong codes for this account; the second sign-in step is locked until an "
        "administrator unlocks it."
    ),
    "resend_cooldown": "A code was just sent to this number; wait before asking for another.",
    "sms_per_number_10min": "Too many codes sent to this number in the last minutes; try again later.",
    "sms_per_number_day": "Too many codes sent to this number today; try again later.",
    "email_cooldown": "A code was just sent to this address; wait before asking for another.",
    "email_per_address_10min": "Too many codes sent to this address in the last minutes; try again later.",
    "email_per_address_day": "Too many codes sent to this address today; try again later.",
    "sms_hourly_budget": "The service has sent all the text messages it may send this hour; try again later.",
}


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    resend_cooldown_seconds: int = 30
    sms_per_number_10min: int = 5
    sms_per_number_day: int = 10
    sms_hourly_budget: int = 1000
    sms_allowed_countries: tuple[str, ...] = ()
    login_free_failures: int = 5
    login_max_delay_seconds: int = 900
    login_account_free_failures: int = 100
    ip_login_per_minute: int = 60
    ip_register_per_hour: int = 30
    ip_verify_create_per_hour: int = 60
    otp_account_failure_limit: int = 100


@dataclass(frozen=True, slots=True)
class _Held:
    """One unit taken from a counter; `expires_at` is passed again when giving it back."""

    key: str
    expires_at: datetime


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def _window(now: datetime, seconds: int) -> tuple[int, datetime]:
    start = math.floor(now.timestamp() / seconds) * seconds
    return start, datetime.fromtimestamp(start + seconds, tz=now.tzinfo)


def ip_bucket(ip: str) -> str:
    """The unit an IP limit counts: the address, or its /64 for IPv6 (one subscriber's usual share)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _client_key(ctx: RequestContext) -> str:
    """Whose failures these are: the caller's IP bucket ("-" when the edge could not tell)."""
    return ip_bucket(ctx.ip) if ctx.ip else "-"


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

    # --- taking from counters, refusing, giving back ---
    def _take(
        self, key: str, expires_at: datetime, limit: int, name: str, ctx: RequestContext, **who: str
    ) -> _Held:
        """Take one unit of `key`, or give it back and refuse when that would pass `limit`."""
        now = self._clock.now()
        held = _Held(key, expires_at)
        if self._counters.increment_counter(key, 1, now, expires_at) <= limit:
            return held
        self._release(held)
        live = self._counters.get_counter(key, now)
        self._refuse(name, _seconds_until(live.expires_at if live else expires_at, now), ctx, **who)

    def _release(self, held: _Held) -> None:
        self._counters.increment_counter(held.key, -1, self._clock.now(), held.expires_at)

    def _take_window(
        self, key: str, window: int, limit: int, name: str, ctx: RequestContext, **who: str
    ) -> _Held:
        start, end = _window(self._clock.now(), window)
        return self._take(f"{key}@{window}:{start}", end, limit, name, ctx, **who)

    def _refuse(self, name: str, retry_after: int, ctx: RequestContext, **who: str) -> NoReturn:
        self._audit.record("limit_hit", ctx=ctx, limit=name, **who)
        if name == "sms_hourly_budget":  # something for operators to alert on: the service stopped texting
            logger.warning("sms hourly budget exhausted", extra={"limit": name, "retry_after": retry_after})
        raise RateLimited(name, retry_after, MESSAGES.get(name))

    # --- per client IP ---
    def check_ip(self, action: str, ctx: RequestContext) -> None:
        """Count one `login`, `register` or `verification_create` from the caller's IP.

        Raises:
            RateLimited: the IP's rate for that action is used up (the refused request counts too).
        """
        if ctx.ip is None:
            return
        window, limit = {
            "login": (MINUTE, self._policy.ip_login_per_minute),
            "register": (HOUR, self._policy.ip_register_per_hour),
            "verification_create": (HOUR, self._policy.ip_verify_create_per_hour),
        }[action]
        now = self._clock.now()
        start, end = _window(now, window)
        key = f"ip:{action}:{ip_bucket(ctx.ip)}@{window}:{start}"
        # Kept even when refused: a flooding address stays refused until its window ends, never longer.
        if self._counters.increment_counter(key, 1, now, end) > limit:
            self._refuse(f"ip_{action}_rate", _seconds_until(end, now), ctx)

    # --- per account and client: progressive delay after failed passwords, never a permanent lock ---
    def begin_login(self, email: str, ctx: RequestContext) -> None:
        """Count this password attempt as a failure up front (undone by `login_succeeded`).

        Failures are counted per account *and client* (the caller's IP bucket), so a stranger guessing
        from one address slows only that address: the owner signing in from elsewhere is not delayed.
        After `login_free_failures` from one client, each attempt from it must pass a gate that a failing
        attempt closes for 1 s, 2 s, 4 s ... up to `login_max_delay_seconds`; one attempt passes per gate,
        even concurrently. Past the much higher `login_account_free_failures` from all clients together
        (a distributed guess), the same delay applies to the account as a whole.

        Raises:
            RateLimited: the caller's IP rate, this client's delay, or the account-wide delay.
        """
        self.check_ip("login", ctx)
        client = self._progressive(
            f"{email}|{_client_key(ctx)}", self._policy.login_free_failures, "account_login_delay", ctx, email
        )
        try:
            self._progressive(
                email, self._policy.login_account_free_failures, "account_login_cap", ctx, email
            )
        except RateLimited:
            self._release(client)
            raise

    def _progressive(self, subject: str, free: int, name: str, ctx: RequestContext, email: str) -> _Held:
        """Count one failure of `subject`; past `free` failures pass one gate per growing delay."""
        now = self._clock.now()
        failures = _Held(f"login-fail:{subject}", now + timedelta(seconds=LOGIN_FAILURE_MEMORY_SECONDS))
        attempt = self._counters.increment_counter(failures.key, 1, now, failures.expires_at)
        if attempt <= free:
            return failures
        gate = f"login-gate:{subject}"
        delay = self._login_delay(attempt - free)
        if self._counters.increment_counter(gate, 1, now, now + timedelta(seconds=delay)) == 1:
            return failures
        self._release(failures)  # attempts refused during a delay neither count nor extend it
        live = self._counters.get_counter(gate, now)
        self._refuse(name, _seconds_until(live.expires_at, now) if live else 1, ctx, email=email)

    def _login_delay(self, excess: int) -> int:
        """Seconds to wait after the `excess`-th failure past the free ones (the first: 1 s)."""
        return min(self._policy.login_max_delay_seconds, 1 << min(max(excess - 1, 0), 20))

    def login_succeeded(self, email: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """The right password: forget this client's failures and delay (the account-wide count stays,
        so an owner signing in now and then does not reset a distributed guesser's budget)."""
        subject = f"{email}|{_client_key(ctx)}"
        self._counters.delete_counter(f"login-fail:{subject}")
        self._counters.delete_counter(f"login-gate:{subject}")

    # --- per account: consecutive wrong codes across logins and resends (NIST 800-63B) ---
    def check_second_factor_allowed(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Raises: RateLimited("second_factor_locked") once the account's wrong-code budget is spent."""
        failures = self._counters.get_counter(f"otp-fail:{user_id}", self._clock.now())
        if failures is not None and failures.value >= self._policy.otp_account_failure_limit:
            self._refuse_locked(user_id, ctx)

    def begin_code_attempt(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> int:
        """Count this code check as a wrong code up front, so concurrent checks cannot pass the budget.

        Returns the account's wrong-code count including this attempt; follow with `code_attempt_failed`,
        `reset_code_failures` (right code) or `code_attempt_void` (no code was compared).

        Raises:
            RateLimited: the budget is spent; no code may be checked until an administrator unlocks it.
        """
        now = self._clock.now()
        held = _Held(f"otp-fail:{user_id}", now + timedelta(seconds=SECOND_FACTOR_MEMORY_SECONDS))
        count = self._counters.increment_counter(held.key, 1, now, held.expires_at)
        if count > self._policy.otp_account_failure_limit:
            self._release(held)
            self._refuse_locked(user_id, ctx)
        return count

    def code_attempt_failed(self, user_id: str, count: int, ctx: RequestContext = NO_CONTEXT) -> None:
        """A wrong code (already counted); the attempt that spends the budget records the lock."""
        if count == self._policy.otp_account_failure_limit:
            self._audit.record("second_factor_locked", ctx=ctx, user_id=user_id, failures=str(count))

    def code_attempt_void(self, user_id: str) -> None:
        """No code was compared (unknown, expired, used, malformed): give the counted attempt back."""
        now = self._clock.now()
        self._release(_Held(f"otp-fail:{user_id}", now + timedelta(seconds=SECOND_FACTOR_MEMORY_SECONDS)))

    def reset_code_failures(self, user_id: str) -> None:
        """A right code, or `twostep users unlock`: the account's wrong-code count starts again."""
        self._counters.delete_counter(f"otp-fail:{user_id}")

    def _refuse_locked(self, user_id: str, ctx: RequestContext) -> NoReturn:
        self._refuse("second_factor_locked", SECOND_FACTOR_LOCKED_RETRY_SECONDS, ctx, user_id=user_id)

    # --- per destination number and service-wide: what an SMS costs ---
    def check_destination(
        self, phone: str, ctx: RequestContext = NO_CONTEXT, field: str | None = None
    ) -> None:
        """Raises: DestinationNotAllowed when the number's country is not on the allow-list."""
        allowed = self._policy.sms_allowed_countries
        if allowed and phone_country(phone) not in allowed:
            self._audit.record("limit_hit", ctx=ctx, phone=phone, limit="country_not_allowed")
            raise DestinationNotAllowed(**({"field": field} if field else {}))

    def reserve_sms(self, phone: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Admit one SMS to `phone` or raise; call before the code is created or sent.

        Per-number day cap, 10-minute cap, cooldown, then the service-wide budget; a refusal gives back
        every unit already taken, so a refused send costs no budget, no cap and no cooldown. An admitted send keeps its
        units even if delivery then fails (the provider may have charged for it).

        Raises:
            DestinationNotAllowed: the number's country is not on the allow-list.
            RateLimited: cooldown, per-number caps or the hourly budget.
        """
        self.check_destination(phone, ctx)
        taken: list[_Held] = []
        try:
            self._take_sms_units(phone, ctx, taken)
        except RateLimited:
            for held in reversed(taken):
                self._release(held)
            raise

    def _take_sms_units(self, phone: str, ctx: RequestContext, taken: list[_Held]) -> None:
        # Longest lock first, so Retry-After names the wait that really applies; the budget last, so an
        # admitted unit of it is never given back (that keeps "N budget, exactly N sent" under races).
        policy, now = self._policy, self._clock.now()
        for window, limit, name in (
            (DAY, policy.sms_per_number_day, "sms_per_number_day"),
            (10 * MINUTE, policy.sms_per_number_10min, "sms_per_number_10min"),
        ):
            taken.append(self._take_window(f"sms:{phone}", window, limit, name, ctx, phone=phone))
        if policy.resend_cooldown_seconds > 0:
            until = now + timedelta(seconds=policy.resend_cooldown_seconds)
            taken.append(self._take(f"sms-cooldown:{phone}", until, 1, "resend_cooldown", ctx, phone=phone))
        taken.append(self._take_window("sms:all", HOUR, policy.sms_hourly_budget, "sms_hourly_budget", ctx))

    # --- per email address: the same caps as a phone number ---
    def reserve_email(self, address: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Admit one code email to `address` or raise (per-address day and 10-minute caps, cooldown);
        a refusal gives back what it took.

        Raises:
            RateLimited: the address's caps or cooldown.
        """
        policy, now = self._policy, self._clock.now()
        taken: list[_Held] = []
        try:
            for window, limit, name in (
                (DAY, policy.sms_per_number_day, "email_per_address_day"),
                (10 * MINUTE, policy.sms_per_number_10min, "email_per_address_10min"),
            ):
                taken.append(self._take_window(f"mail:{address}", window, limit, name, ctx, email=address))
            if policy.resend_cooldown_seconds > 0:
                until = now + timedelta(seconds=policy.resend_cooldown_seconds)
                taken.append(
                    self._take(f"mail-cooldown:{address}", until, 1, "email_cooldown", ctx, email=address)
                )
        except RateLimited:
            for held in reversed(taken):
                self._release(held)
            raise
