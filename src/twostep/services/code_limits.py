"""Per account: consecutive wrong codes across logins and resends (NIST 800-63B), checked with the
account's lock (`AccountLocks`) whenever a sign-in's second step is tried or passed."""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from twostep.domain.clock import Clock
from twostep.domain.counter_batch import CounterChange, Unless, forget
from twostep.domain.errors import AccountLocked
from twostep.domain.models import NO_CONTEXT, RequestContext
from twostep.domain.ports import Counter, CounterStore
from twostep.services.account_locks import lock_key
from twostep.services.audit import AuditService
from twostep.services.counting import DAY, CounterGate, Held
from twostep.services.limits_policy import LimitPolicy
from twostep.services.prefix_guard import PrefixGuard

# Consecutive wrong codes are remembered until a correct code or `twostep users unlock` (NIST 800-63B
# §3.2.2 has no time window); the long expiry only lets storage drop abandoned counters eventually.
SECOND_FACTOR_MEMORY_SECONDS = 3650 * DAY
# The lock does not lift by waiting; Retry-After on it is advice not to retry before a day has passed.
SECOND_FACTOR_LOCKED_RETRY_SECONDS = DAY


def code_failures_key(user_id: str) -> str:
    """The counter of an account's consecutive wrong codes."""
    return f"otp-fail:{user_id}"


class CodeLimits:
    def __init__(
        self,
        counters: CounterStore,
        policy: LimitPolicy,
        clock: Clock,
        audit: AuditService,
        gate: CounterGate,
        guard: PrefixGuard,
    ) -> None:
        """`guard`: the SMS fraud guard, which counts a texted code used (`code_success_counts`)."""
        self._counters, self._policy, self._clock = counters, policy, clock
        self._audit, self._gate, self._guard = audit, gate, guard

    def check_second_factor_allowed(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """One storage request for both locks a new code could not get past.

        Raises:
            AccountLocked: an administrator locked the account (`twostep users lock`).
            RateLimited("second_factor_locked"): the account's wrong-code budget is spent.
        """
        failures_key, locked = code_failures_key(user_id), lock_key(user_id)
        live = self._counters.get_counters([failures_key, locked], self._clock.now())
        if locked in live:
            raise AccountLocked()
        self.check_code_failures(user_id, live.get(failures_key), ctx)

    def check_code_failures(self, user_id: str, failures: Counter | None, ctx: RequestContext) -> None:
        """`check_second_factor_allowed` on the count already read (`code_failures_key`).

        Raises: RateLimited("second_factor_locked").
        """
        if failures is not None and failures.value >= self._policy.otp_account_failure_limit:
            self._refuse_locked(user_id, ctx)

    def second_step_guards(self, user_id: str) -> list[Unless]:
        """Held while the account is locked or its wrong codes reached their limit."""
        limit = self._policy.otp_account_failure_limit
        return [Unless(lock_key(user_id)), Unless(code_failures_key(user_id), limit)]

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
            self._gate.release(held)
            self._refuse_locked(user_id, ctx)
        return count

    def code_attempt_failed(self, user_id: str, count: int, ctx: RequestContext = NO_CONTEXT) -> None:
        """A wrong code (already counted); the attempt that spends the budget records the lock."""
        if count == self._policy.otp_account_failure_limit:
            self._audit.record("second_factor_locked", ctx=ctx, user_id=user_id, failures=str(count))

    def code_attempt_void(self, user_id: str) -> None:
        """No code was compared (unknown, expired, used, malformed): give the counted attempt back."""
        now = self._clock.now()
        self._gate.release(
            Held(code_failures_key(user_id), now + timedelta(seconds=SECOND_FACTOR_MEMORY_SECONDS))
        )

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
            changes.append(self._guard.verified_change(phone))
        guards = self.second_step_guards(user_id) if within_budget else [Unless(lock_key(user_id))]
        return changes, guards

    def _refuse_locked(self, user_id: str, ctx: RequestContext) -> NoReturn:
        # No window: the lock lifts only when an administrator unlocks the account.
        limit = self._policy.otp_account_failure_limit
        self._gate.refuse(
            "second_factor_locked",
            SECOND_FACTOR_LOCKED_RETRY_SECONDS,
            ctx,
            quota=limit,
            window=None,
            user_id=user_id,
        )
