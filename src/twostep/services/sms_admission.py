"""Whether one SMS may go out: where to, who asks for it, how many so far, what it costs.

Checked in this order, before a code is created or sent (`reserve`; all but the first in one storage
request):
1. the destination: country allow-list and number type (422 `destination_not_allowed`);
2. the fraud guard: the number's prefix is not blocked (403 `destination_blocked`);
3. velocity: the caller (a keyed tenant's hourly and daily rates, else the client IP's hourly cap), the
   account's daily cap, the number's daily and 10-minute caps and cooldown, the hourly message budget;
4. money: the segments' price against the hourly and daily budgets, global and per country (503).
All counts are taken in one storage request, all or nothing: a refusal takes nothing. An admitted send
keeps its units even if delivery then fails (the provider may have charged for it) and counts as "sent"
for the fraud guard.

An account notice by SMS (no code: "your phone number was changed") is admitted by `reserve_notice`:
the destination, the fraud guard's block, the account's daily notices, the hourly message budget and
the money budgets. It leaves the number's code caps and cooldown alone (a notice must not use up the
codes its owner may need next) and is not a send for the fraud guard (it carries no code, so it could
never convert and would count against its prefix).

The resend cooldown paces one caller asking again: it is kept per number *and* caller (the account a code
is for, else the API key's tenant, else the client IP). Kept per number alone, its 429 told anyone who
texted a number (a verification for a stranger's number) that someone else had, and to the second when
(`Retry-After`: a sign-in 12 s ago answered 18). The number's caps stay shared by every caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from twostep.domain.errors import DestinationBlocked, DestinationNotAllowed
from twostep.domain.models import RequestContext
from twostep.services.counting import DAY, HOUR, MINUTE, Alongside, Ask, CounterGate
from twostep.services.destinations import MESSAGES as DESTINATION_MESSAGES
from twostep.services.destinations import DestinationRules
from twostep.services.limits_policy import LimitPolicy, ip_bucket
from twostep.services.prefix_guard import PrefixGuard
from twostep.services.sms_budget import SmsBudget


@dataclass(frozen=True, slots=True)
class SmsRequest:
    """One SMS about to be sent: to whom, how long it is, and for which account (logins)."""

    phone: str
    segments: int = 1
    account: str | None = None
    # False for the one automatic resend by another channel after a failed delivery (services/fallback.py):
    # the number's cooldown paces people asking again, not the service's own single retry.
    cooldown: bool = True


@dataclass
class SmsAdmission:
    gate: CounterGate
    policy: LimitPolicy
    guard: PrefixGuard
    budget: SmsBudget
    rules: DestinationRules = field(init=False)

    def __post_init__(self) -> None:
        self.rules = DestinationRules(self.policy.sms_allowed_countries, self.policy.sms_allowed_number_types)

    def check_destination(self, phone: str, ctx: RequestContext, field: str | None = None) -> None:
        """Raises: DestinationNotAllowed when the number's country or type is not allowed."""
        refusal = self.rules.refusal(phone)
        if refusal is None:
            return
        self.gate.audit.record("limit_hit", ctx=ctx, phone=phone, limit=refusal)
        self.gate.metrics.limit_refused(refusal)
        details = {"field": field} if field else {}
        raise DestinationNotAllowed(DESTINATION_MESSAGES[refusal], rule=refusal, **details)

    def reserve(self, request: SmsRequest, ctx: RequestContext, alongside: Alongside | None = None) -> None:
        """Admit one SMS or raise (see the module docstring for the order). Every count is taken in
        one storage request, all or nothing, with the fraud guard's count of the send, and with
        `alongside`'s changes (a sign-in's password settling) when it all goes through; else
        `alongside.settle()` runs first, as its own step, and the SMS is admitted after it.

        Raises:
            DestinationNotAllowed, DestinationBlocked, RateLimited, SmsBudgetExhausted; what
            `alongside.settle` raises.
        """
        if alongside is not None and self.rules.refusal(request.phone) is not None:
            alongside.settle()  # settled before the destination is refused, as if it came first
            alongside = None
        self.check_destination(request.phone, ctx)
        number, budget = self._number_asks(
            request.phone, cooldown_scope(request.account, ctx), request.cooldown
        )
        asks = [
            *self._caller_asks(request, ctx),
            *number,
            budget,
            *self.budget.asks(request.phone, request.segments, ctx),
            self.guard.sent_ask(request.phone),
        ]
        # The fraud guard's block is read in the same request; a blocked prefix takes nothing.
        blocked = self.guard.unless_blocked(request.phone)
        held = None if alongside is None else self.gate.take_all_alongside(asks, alongside, blocked)
        if held is None:
            if alongside is not None:  # nothing taken: the owed step by itself, then the SMS's own way
                alongside.settle()
            held = self.gate.take_all(asks, ctx, blocked)
        if held is None:
            self.guard.check(request.phone, ctx)  # raises DestinationBlocked with its Retry-After
            held = self.gate.take_all(asks, ctx, self.guard.unless_blocked(request.phone))  # lifted since
            if held is None:  # blocked again at once: refused as blocked, a second from now
                raise DestinationBlocked(1)
        self.gate.metrics.sms_budget(held[asks.index(budget)].value, self.policy.sms_hourly_budget)
        self.guard.judge(request.phone, held[-1].value, ctx)

    def reserve_notice(self, request: SmsRequest, ctx: RequestContext) -> None:
        """Admit one account notice by SMS or raise (see the module docstring), in one storage request.

        Raises:
            DestinationNotAllowed, DestinationBlocked, RateLimited, SmsBudgetExhausted.
        """
        self.check_destination(request.phone, ctx)
        asks = [self._hourly_messages(), *self.budget.asks(request.phone, request.segments, ctx)]
        if request.account is not None:
            key = f"sms-notice:{request.account}"
            limit = self.policy.account_sms_per_day
            asks.insert(
                0, self.gate.window_ask(key, DAY, limit, "account_notice_day", user_id=request.account)
            )
        if self.gate.take_all(asks, ctx, self.guard.unless_blocked(request.phone)) is None:
            self.guard.check(request.phone, ctx)  # raises DestinationBlocked with its Retry-After
            raise DestinationBlocked(1)  # lifted a moment ago: this notice stays refused

    def record_verified(self, phone: str) -> None:
        """A code sent to `phone` was used: its prefix converts."""
        self.guard.record_verified(phone)

    def _caller_asks(self, request: SmsRequest, ctx: RequestContext) -> list[Ask]:
        gate, policy = self.gate, self.policy
        asks = []
        if ctx.tenant is not None:  # a keyed server-to-server caller: its own rates, not its IP's
            tenant = ctx.tenant
            for window, limit, name in (
                (DAY, tenant.sms_per_day, "tenant_sms_day"),
                (HOUR, tenant.sms_per_hour, "tenant_sms_hour"),
            ):
                asks.append(gate.window_ask(f"sms-tenant:{tenant.name}", window, limit, name))
        elif ctx.ip is not None:
            key = f"sms-ip:{ip_bucket(ctx.ip)}"
            asks.append(gate.window_ask(key, HOUR, policy.ip_sms_per_hour, "ip_sms_rate"))
        if request.account is not None:
            account = request.account
            asks.append(
                gate.window_ask(
                    f"sms-account:{account}",
                    DAY,
                    policy.account_sms_per_day,
                    "account_sms_day",
                    user_id=account,
                )
            )
        return asks

    def _number_asks(self, phone: str, caller: str, cooldown: bool = True) -> tuple[list[Ask], Ask]:
        """The number's caps, longest lock first (so Retry-After names the wait that really applies),
        the `caller`'s cooldown for the number (`cooldown_scope`), and the service's hourly message budget."""
        gate, policy, now = self.gate, self.policy, self.gate.clock.now()
        asks = [
            gate.window_ask(f"sms:{phone}", window, limit, name, phone=phone)
            for window, limit, name in (
                (DAY, policy.sms_per_number_day, "sms_per_number_day"),
                (10 * MINUTE, policy.sms_per_number_10min, "sms_per_number_10min"),
            )
        ]
        if cooldown and policy.resend_cooldown_seconds > 0:
            until = now + timedelta(seconds=policy.resend_cooldown_seconds)
            key = f"sms-cooldown:{phone}:{caller}"
            asks.append(Ask(key, until, 1, "resend_cooldown", who={"phone": phone}))
        return asks, self._hourly_messages()

    def _hourly_messages(self) -> Ask:
        """One message from the service's hourly message budget (every text counts, whatever it says)."""
        windowed, end = self.gate.window_key("sms:all", HOUR)
        return Ask(windowed, end, self.policy.sms_hourly_budget, "sms_hourly_budget", HOUR, read=True)


def cooldown_scope(account: str | None, ctx: RequestContext) -> str:
    """Whose cooldown a code to a number or a mailbox takes: the `account`'s it is for (every code for it,
    whoever asks: a stranger's reset paces its owner's sign-in, never tells them), else the API key's, else
    the client IP's (IPv6 per /64); "" for a caller with none of them (the CLI), shared."""
    if account:
        return f"account:{account}"
    if ctx.tenant is not None:
        return f"tenant:{ctx.tenant.name}"
    if ctx.ip is not None:
        return f"ip:{ip_bucket(ctx.ip)}"
    return ""
