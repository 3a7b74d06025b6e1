"""Abuse and cost limits over atomic storage counters.

Fixed windows: a counter's key names its window, and the counter expires with it. A fixed window lets
up to twice a cap through across one window boundary; the per-number cooldown spaces those sends out,
and the service-wide hourly budget is the hard stop on cost, so the simpler fixed window is kept.

A step takes all its limits in one all-or-nothing storage request (`CounterGate.take_all`), so
concurrent callers can never all slip under a cap and a refused attempt takes nothing; the few limits
still taken one at a time increment before deciding and give back what they took when refusing. Either
way a refusal never eats the budget, another number's cap, or extends a delay. Every refusal raises
`RateLimited` with the limit's name and the seconds until it lifts. Counters are keyed by what the caller
typed (normalised), never by whether an account exists, so refusals reveal nothing about who has one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from twostep.domain.clock import Clock
from twostep.domain.counter_batch import CounterBatch, CounterChange, Unless, forget
from twostep.domain.errors import AccountLocked, RateLimited
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.metrics import NO_METRICS, Metrics
from twostep.domain.models import NO_CONTEXT, RequestContext, User
from twostep.domain.ports import Counter, CounterStore, PrefixBlock, PrefixBlockStore, UserStore
from twostep.services.account_locks import lock_key
from twostep.services.audit import AuditService
from twostep.services.counting import (
    DAY,
    HOUR,
    MESSAGES,
    MINUTE,
    Alongside,
    Ask,
    CounterGate,
    Held,
    seconds_until,
    window_of,
)
from twostep.services.limit_report import note_limit
from twostep.services.limits_policy import LimitPolicy, ip_bucket
from twostep.services.prefix_guard import FraudPolicy, PrefixGuard
from twostep.services.sms_admission import SmsAdmission, SmsRequest
from twostep.services.sms_budget import BudgetPolicy, SmsBudget

__all__ = [
    "MESSAGES",
    "BudgetPolicy",
    "FraudPolicy",
    "LimitPolicy",
    "LimitsService",
    "SmsRequest",
    "ip_bucket",
]

# Consecutive wrong codes are remembered until a correct code or `twostep users unlock` (NIST 800-63B
# §3.2.2 has no time window); the long expiry only lets storage drop abandoned counters eventually.
SECOND_FACTOR_MEMORY_SECONDS = 3650 * DAY
# The lock does not lift by waiting; Retry-After on it is advice not to retry before a day has passed.
SECOND_FACTOR_LOCKED_RETRY_SECONDS = DAY
LOGIN_FAILURE_MEMORY_SECONDS = DAY
# How a login attempt's counter batch reaches the storage (alone, or with the account's read).
CountBatch = Callable[[Sequence[CounterChange], datetime], CounterBatch]


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """What `begin_login` counted for one password attempt, for `login_succeeded` to undo."""

    client: Held  # this client's failures of this email; `value` includes this attempt
    account: Held  # the unit taken from the email's account-wide failures


class _NoBlocks:
    """Where blocks go when no store is given (a service built without the fraud guard): nowhere."""

    def add_prefix_block(self, block: PrefixBlock) -> bool:
        return False

    def get_prefix_block(self, prefix: str, now: datetime) -> PrefixBlock | None:
        return None

    def list_prefix_blocks(self, now: datetime) -> list[PrefixBlock]:
        return []

    def delete_prefix_block(self, prefix: str) -> bool:
        return False


def code_failures_key(user_id: str) -> str:
    """The counter of an account's consecutive wrong codes."""
    return f"otp-fail:{user_id}"


def login_failures_key(subject: str) -> str:
    """The counter of failed passwords of `subject` (an email, or an email and a client)."""
    return f"login-fail:{subject}"


def login_gate_key(subject: str) -> str:
    """The gate `subject`'s next password attempt must pass once its free failures are spent."""
    return f"login-gate:{subject}"


def ip_key(action: str, bucket: str, window: int, start: int) -> str:
    """The counter of `action`s from the IP bucket `bucket` in the window of `window` s at `start`."""
    return f"ip:{action}:{bucket}@{window}:{start}"


def _client_key(ctx: RequestContext) -> str:
    """Whose failures these are: the caller's IP bucket ("-" when the edge could not tell)."""
    return ip_bucket(ctx.ip) if ctx.ip else "-"


class LimitsService:
    def __init__(
        self,
        counters: CounterStore,
        policy: LimitPolicy,
        clock: Clock,
        audit: AuditService,
        *,
        blocks: PrefixBlockStore | None = None,
        fraud: FraudPolicy | None = None,
        budget: BudgetPolicy | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        """Without `blocks` the fraud guard is off (it has nowhere to keep blocks)."""
        self._counters = counters
        self._policy = policy
        self._clock = clock
        self._audit = audit
        self._gate = CounterGate(counters, clock, audit, metrics)
        fraud = fraud or FraudPolicy(enabled=blocks is not None)
        self.sms = SmsAdmission(
            self._gate,
            policy,
            PrefixGuard(self._gate, blocks or _NoBlocks(), fraud),
            SmsBudget(self._gate, budget or BudgetPolicy()),
        )

    @property
    def policy(self) -> LimitPolicy:
        return self._policy

    # --- taking from counters, refusing, giving back (see services/counting.py) ---
    def _release(self, held: Held) -> None:
        self._gate.release(held)

    def _refuse(
        self,
        name: str,
        retry_after: int,
        ctx: RequestContext,
        *,
        quota: int,
        window: int | None,
        **who: str,
    ) -> NoReturn:
        self._gate.refuse(name, retry_after, ctx, quota=quota, window=window, **who)

    # --- per client IP ---
    def check_ip(self, action: str, ctx: RequestContext) -> None:
        """Count one `login`, `register` or `verification_create` from the caller's IP.

        Raises:
            RateLimited: the IP's rate for that action is used up (the refused request counts too).
        """
        if ctx.ip is None or (ctx.tenant is not None and action == "verification_create"):
            return  # a keyed tenant is held to its own rates (SmsAdmission), not its server's IP
        window, limit = self._ip_limit(action)
        now = self._clock.now()
        start, end = window_of(now, window)
        key = ip_key(action, ip_bucket(ctx.ip), window, start)
        # Kept even when refused: a flooding address stays refused until its window ends, never longer.
        count = self._counters.increment_counter(key, 1, now, end)
        if count > limit:
            self._refuse(f"ip_{action}_rate", seconds_until(end, now), ctx, quota=limit, window=window)
        note_limit(f"ip_{action}_rate", limit, window, count, seconds_until(end, now))

    def _ip_limit(self, action: str) -> tuple[int, int]:
        """The window (seconds) and the cap of `action` per IP."""
        return {
            "login": (MINUTE, self._policy.ip_login_per_minute),
            "register": (HOUR, self._policy.ip_register_per_hour),
            "verification_create": (HOUR, self._policy.ip_verify_create_per_hour),
        }[action]

    # --- per account and client: progressive delay after failed passwords, never a permanent lock ---
    def begin_login(self, email: str, ctx: RequestContext) -> LoginAttempt:
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
        return self._begin_login(email, ctx, self._counters.change_counters)

    def begin_login_finding_user(
        self, email: str, ctx: RequestContext, users: UserStore
    ) -> tuple[LoginAttempt, tuple[User | None, EnrolledFactors | None]]:
        """`begin_login`, and the account signing in (`find_user_signing_in`) read in the storage
        request that counts the attempt (`find_user_counting`: one statement on PostgreSQL).

        Raises: what `begin_login` raises (the account read then goes unused).
        """
        found: list[tuple[User | None, EnrolledFactors | None]] = []

        def counted(changes: Sequence[CounterChange], now: datetime) -> CounterBatch:
            batch, account = users.find_user_counting(email, changes, now)
            found.append(account)
            return batch

        attempt = self._begin_login(email, ctx, counted)
        return attempt, found[0] if found else users.find_user_signing_in(email)

    def _begin_login(self, email: str, ctx: RequestContext, run_batch: CountBatch) -> LoginAttempt:
        fast = self._begin_login_in_one(email, ctx, run_batch)
        if fast is not None:
            return fast
        self.check_ip("login", ctx)
        client = self._progressive(
            f"{email}|{_client_key(ctx)}", self._policy.login_free_failures, "account_login_delay", ctx, email
        )
        try:
            account = self._progressive(
                email, self._policy.login_account_free_failures, "account_login_cap", ctx, email
            )
        except RateLimited:
            self._release(client)
            raise
        return LoginAttempt(client, account)

    def _begin_login_in_one(
        self, email: str, ctx: RequestContext, run_batch: CountBatch
    ) -> LoginAttempt | None:
        """The usual case in one storage request: the IP's count and both failure counts, all or nothing,
        each failure count within its free ones. None when a failure count is past them: then nothing
        was counted and the caller takes the step by step way through the delay gates.

        Raises: RateLimited (the IP's rate; nothing counted).
        """
        now = self._clock.now()
        expires_at = now + timedelta(seconds=LOGIN_FAILURE_MEMORY_SECONDS)
        policy = self._policy
        client = Ask(
            login_failures_key(f"{email}|{_client_key(ctx)}"), expires_at, policy.login_free_failures
        )
        account = Ask(login_failures_key(email), expires_at, policy.login_account_free_failures)
        asks = [client, account]
        window, limit = self._ip_limit("login")
        if ctx.ip is not None:
            start, end = window_of(now, window)
            key = ip_key("login", ip_bucket(ctx.ip), window, start)
            asks.insert(0, Ask(key, end, limit, "ip_login_rate", window))
        batch = run_batch([ask.change() for ask in asks], now)
        if batch.refused is None:
            held = {ask.key: (ask, value or 0) for ask, value in zip(asks, batch.values, strict=True)}
            if ctx.ip is not None:
                ip, count = held[asks[0].key]
                note_limit(ip.name, limit, window, count, seconds_until(ip.expires_at, now))
            return LoginAttempt(
                Held(client.key, expires_at, value=held[client.key][1]),
                Held(account.key, expires_at, value=held[account.key][1]),
            )
        refused = asks[batch.refused]
        if refused.name != "ip_login_rate":
            return None
        # The IP's rate is spent: refused before any failure is counted, as the step by step way does.
        retry_after = seconds_until(batch.expiries[batch.refused] or refused.expires_at, now)
        self._refuse(refused.name, retry_after, ctx, quota=limit, window=window)

    def _progressive(self, subject: str, free: int, name: str, ctx: RequestContext, email: str) -> Held:
        """Count one failure of `subject`; past `free` failures pass one gate per growing delay."""
        now = self._clock.now()
        expires_at = now + timedelta(seconds=LOGIN_FAILURE_MEMORY_SECONDS)
        key = login_failures_key(subject)
        attempt = self._counters.increment_counter(key, 1, now, expires_at)
        failures = Held(key, expires_at, value=attempt)
        if attempt <= free:
            return failures
        gate = login_gate_key(subject)
        delay = self._login_delay(attempt - free)
        if self._counters.increment_counter(gate, 1, now, now + timedelta(seconds=delay)) == 1:
            return failures
        self._release(failures)  # attempts refused during a delay neither count nor extend it
        live = self._counters.get_counter(gate, now)
        # One attempt passes per delay: the policy a client sees is 1 per the current delay.
        retry_after = seconds_until(live.expires_at, now) if live else 1
        self._refuse(name, retry_after, ctx, quota=1, window=delay, email=email)

    def _login_delay(self, excess: int) -> int:
        """Seconds to wait after the `excess`-th failure past the free ones (the first: 1 s)."""
        return min(self._policy.login_max_delay_seconds, 1 << min(max(excess - 1, 0), 20))

    def login_succeeded(self, attempt: LoginAttempt, user_id: str | None = None) -> Counter | None:
        """The right password: forget this client's failures and delay, and give back the unit this
        attempt took from the account-wide count (which is not reset, so an owner signing in now and
        then does not reset a distributed guesser's budget, nor do the owner's sign-ins count as
        failures). A client's delay gate exists only once its failures passed the free ones (this
        attempt's count says whether they did), so only then is there one to delete.

        With `user_id` (a sign-in going on to its second step), the same storage request checks the
        account's lock (`AccountLocks`) and its wrong-code count (`code_failures_key`); returns that
        count when it reached `otp_account_failure_limit` (for `check_code_failures`), else None.

        Raises: AccountLocked (the password's counts are still settled).
        """
        now = self._clock.now()
        changes = self._settling(attempt)
        if user_id is None:
            self._counters.change_counters(changes, now)
            return None
        locked, failures = lock_key(user_id), code_failures_key(user_id)
        if not self._counters.change_counters(changes, now, self._second_step_guards(user_id)).stopped:
            return None  # one storage request: not locked, and the wrong codes are under their limit
        # Locked, or the wrong codes are spent: read which, and settle the password's counts all the same.
        found = self._counters.get_counters([locked, failures], now)
        self._counters.change_counters(changes, now)
        if locked in found:
            raise AccountLocked()
        return found.get(failures)

    def settle_with_code(self, attempt: LoginAttempt, user_id: str, ctx: RequestContext) -> Alongside:
        """`login_succeeded` and `check_code_failures` for a sign-in that texts a code next, owed to its
        SMS admission (`reserve_sms(alongside=…)`): taken in the SMS's storage request when neither the
        lock nor the wrong-code limit holds and the SMS is admitted, else on their own first.
        """

        def settle() -> None:
            self.check_code_failures(user_id, self.login_succeeded(attempt, user_id), ctx)

        return Alongside(tuple(self._settling(attempt)), tuple(self._second_step_guards(user_id)), settle)

    def _settling(self, attempt: LoginAttempt) -> list[CounterChange]:
        """The right password's changes: this client's failures (and delay gate) forgotten, the
        account-wide unit given back (`login_succeeded`)."""
        changes = [forget(attempt.client.key)]
        if attempt.client.value > self._policy.login_free_failures:
            subject = attempt.client.key.removeprefix(login_failures_key(""))
            changes.append(forget(login_gate_key(subject)))
        account = attempt.account
        changes.append(CounterChange(account.key, -account.amount, account.expires_at))
        return changes

    def _second_step_guards(self, user_id: str) -> list[Unless]:
        """Held while the account is locked or its wrong codes reached their limit."""
        limit = self._policy.otp_account_failure_limit
        return [Unless(lock_key(user_id)), Unless(code_failures_key(user_id), limit)]

    # --- per account: consecutive wrong codes across logins and resends (NIST 800-63B) ---
    def check_second_factor_allowed(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Raises: RateLimited("second_factor_locked") once the account's wrong-code budget is spent."""
        failures = self._counters.get_counter(code_failures_key(user_id), self._clock.now())
        self.check_code_failures(user_id, failures, ctx)

    def check_code_failures(self, user_id: str, failures: Counter | None, ctx: RequestContext) -> None:
        """`check_second_factor_allowed` on the count already read (`code_failures_key`).

        Raises: RateLimited("second_factor_locked").
        """
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
        held = Held(code_failures_key(user_id), now + timedelta(seconds=SECOND_FACTOR_MEMORY_SECONDS))
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
        self._release(Held(code_failures_key(user_id), now + timedelta(seconds=SECOND_FACTOR_MEMORY_SECONDS)))

    def reset_code_failures(self, user_id: str) -> None:
        """A right code, or `twostep users unlock`: the account's wrong-code count starts again."""
        self._counters.delete_counter(code_failures_key(user_id))

    def code_succeeded(
        self,
        user_id: str,
        phone: str | None = None,
        *,
        within_budget: bool = False,
        ctx: RequestContext = NO_CONTEXT,
    ) -> None:
        """A right code for `user_id`'s sign-in: `reset_code_failures`, and (a texted code, `phone`)
        the fraud guard's count of a used code (`SmsAdmission.record_verified`), in one storage request
        that also checks the account is not locked (`AccountLocks`) and, `within_budget` (a code that
        `begin_code_attempt` did not count), that its wrong codes are under `otp_account_failure_limit`,
        read before the reset.

        Raises: AccountLocked, RateLimited (the budget is spent); either way nothing reset or counted.
        """
        now = self._clock.now()
        locked = lock_key(user_id)
        changes, guards = self.code_success_counts(user_id, phone, within_budget=within_budget)
        if not self._counters.change_counters(changes, now, guards).stopped:
            return
        if not within_budget or locked in self._counters.get_counters([locked], now):
            raise AccountLocked()
        self._refuse_locked(user_id, ctx)  # the wrong codes are spent (or were, a moment ago)

    def code_success_counts(
        self, user_id: str, phone: str | None = None, *, within_budget: bool = False
    ) -> tuple[list[CounterChange], list[Unless]]:
        """`code_succeeded`'s counter changes and the records that hold them back, for a caller that
        writes them with its own record (`TokenService.issue_pair_counted`); when they are held back,
        `code_succeeded` says why."""
        changes = [forget(code_failures_key(user_id))]
        if phone:
            changes.append(self.sms.guard.verified_change(phone))
        guards = self._second_step_guards(user_id) if within_budget else [Unless(lock_key(user_id))]
        return changes, guards

    def _refuse_locked(self, user_id: str, ctx: RequestContext) -> NoReturn:
        # No window: the lock lifts only when an administrator unlocks the account.
        limit = self._policy.otp_account_failure_limit
        self._refuse(
            "second_factor_locked",
            SECOND_FACTOR_LOCKED_RETRY_SECONDS,
            ctx,
            quota=limit,
            window=None,
            user_id=user_id,
        )

    # --- one SMS: where to, for whom, how many, what it costs (services/sms_admission.py) ---
    def check_destination(
        self, phone: str, ctx: RequestContext = NO_CONTEXT, field: str | None = None
    ) -> None:
        """Raises: DestinationNotAllowed when the number's country or type is not allowed."""
        self.sms.check_destination(phone, ctx, field)

    def reserve_sms(
        self,
        phone: str,
        ctx: RequestContext = NO_CONTEXT,
        *,
        segments: int = 1,
        account: str | None = None,
        cooldown: bool = True,
        alongside: Alongside | None = None,
    ) -> None:
        """Admit one SMS to `phone` or raise; call before the code is created or sent. `cooldown=False`
        skips only the number's resend cooldown (the automatic fallback after a failed delivery).
        `alongside`: counter changes owed by the same request, taken with the SMS's (`SmsAdmission`).

        Raises:
            DestinationNotAllowed, DestinationBlocked, RateLimited, SmsBudgetExhausted; what
            `alongside.settle` raises (AccountLocked, RateLimited).
        """
        self.sms.reserve(SmsRequest(phone, segments, account, cooldown), ctx, alongside)

    def reserve_notice(
        self, phone: str, account: str, ctx: RequestContext = NO_CONTEXT, *, segments: int = 1
    ) -> None:
        """Admit one account notice by SMS to `phone` or raise (no code caps; see sms_admission).

        Raises:
            DestinationNotAllowed, DestinationBlocked, RateLimited, SmsBudgetExhausted.
        """
        self.sms.reserve_notice(SmsRequest(phone, segments, account, cooldown=False), ctx)

    # --- per email address: the same caps as a phone number ---
    def reserve_email(self, address: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Admit one code email to `address` or raise (per-address day and 10-minute caps, cooldown),
        all in one storage request that takes nothing when any of them refuses.

        Raises:
            RateLimited: the address's caps or cooldown.
        """
        policy, gate = self._policy, self._gate
        asks = [
            gate.window_ask(f"mail:{address}", window, limit, name, email=address)
            for window, limit, name in (
                (DAY, policy.sms_per_number_day, "email_per_address_day"),
                (10 * MINUTE, policy.sms_per_number_10min, "email_per_address_10min"),
            )
        ]
        if policy.resend_cooldown_seconds > 0:
            until = self._clock.now() + timedelta(seconds=policy.resend_cooldown_seconds)
            asks.append(Ask(f"mail-cooldown:{address}", until, 1, "email_cooldown", who={"email": address}))
        gate.take_all(asks, ctx)
