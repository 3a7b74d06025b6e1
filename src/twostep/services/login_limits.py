"""Per account and client: a progressive delay after failed passwords, never a permanent lock; and the
settling of a right password's counts, with the second step's checks in the same storage request."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.counter_batch import CounterBatch, CounterChange, forget
from twostep.domain.errors import AccountLocked, RateLimited
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.models import RequestContext, User
from twostep.domain.ports import Counter, CounterStore, UserStore
from twostep.services.account_locks import lock_key
from twostep.services.code_limits import CodeLimits, code_failures_key
from twostep.services.counting import DAY, Alongside, Ask, CounterGate, Held, seconds_until, window_of
from twostep.services.ip_limits import IpLimits, ip_key
from twostep.services.limit_report import note_limit
from twostep.services.limits_policy import LimitPolicy, ip_bucket

LOGIN_FAILURE_MEMORY_SECONDS = DAY
# How a login attempt's counter batch reaches the storage (alone, or with the account's read).
CountBatch = Callable[[Sequence[CounterChange], datetime], CounterBatch]


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """What `begin_login` counted for one password attempt, for `login_succeeded` to undo."""

    client: Held  # this client's failures of this email; `value` includes this attempt
    account: Held  # the unit taken from the email's account-wide failures


def login_failures_key(subject: str) -> str:
    """The counter of failed passwords of `subject` (an email, or an email and a client)."""
    return f"login-fail:{subject}"


def login_gate_key(subject: str) -> str:
    """The gate `subject`'s next password attempt must pass once its free failures are spent."""
    return f"login-gate:{subject}"


def _client_key(ctx: RequestContext) -> str:
    """Whose failures these are: the caller's IP bucket ("-" when the edge could not tell)."""
    return ip_bucket(ctx.ip) if ctx.ip else "-"


class LoginLimits:
    def __init__(
        self,
        counters: CounterStore,
        policy: LimitPolicy,
        clock: Clock,
        gate: CounterGate,
        *,
        ip: IpLimits,
        codes: CodeLimits,
    ) -> None:
        """`ip`: the caller's login rate, taken with the failures; `codes`: the second step's checks,
        taken when a right password settles (`login_succeeded`)."""
        self._counters, self._policy, self._clock, self._gate = counters, policy, clock, gate
        self._ip, self._codes = ip, codes

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
        self._ip.check_ip("login", ctx)
        client = self._progressive(
            f"{email}|{_client_key(ctx)}", self._policy.login_free_failures, "account_login_delay", ctx, email
        )
        try:
            account = self._progressive(
                email, self._policy.login_account_free_failures, "account_login_cap", ctx, email
            )
        except RateLimited:
            self._gate.release(client)
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
        window, limit = self._ip.window_and_cap("login")
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
        self._gate.refuse(refused.name, retry_after, ctx, quota=limit, window=window)

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
        self._gate.release(failures)  # attempts refused during a delay neither count nor extend it
        live = self._counters.get_counter(gate, now)
        # One attempt passes per delay: the policy a client sees is 1 per the current delay.
        retry_after = seconds_until(live.expires_at, now) if live else 1
        self._gate.refuse(name, retry_after, ctx, quota=1, window=delay, email=email)

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
        guards = self._codes.second_step_guards(user_id)
        if not self._counters.change_counters(changes, now, guards).stopped:
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
            self._codes.check_code_failures(user_id, self.login_succeeded(attempt, user_id), ctx)

        guards = self._codes.second_step_guards(user_id)
        return Alongside(tuple(self._settling(attempt)), tuple(guards), settle)

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
