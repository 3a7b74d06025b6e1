"""Per message sent: one SMS (where to, for whom, how many, what it costs; services/sms_admission.py)
and one code email, with the same caps per address as a phone number."""

from __future__ import annotations

from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.identity import mailbox_of
from twostep.domain.models import NO_CONTEXT, RequestContext
from twostep.domain.ports import PrefixBlock, PrefixBlockStore
from twostep.services.counting import DAY, MINUTE, Alongside, Ask, CounterGate
from twostep.services.limits_policy import LimitPolicy
from twostep.services.prefix_guard import FraudPolicy, PrefixGuard
from twostep.services.sms_admission import SmsAdmission, SmsRequest, cooldown_scope
from twostep.services.sms_budget import BudgetPolicy, SmsBudget


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


def email_cooldown_key(address: str, caller: str) -> str:
    """The counter of the address's resend cooldown for one caller (`cooldown_scope`); `+detail` spellings
    of one mailbox share it. Kept per mailbox alone, its 429 and Retry-After told a stranger changing their
    email to `owner+x@…` that the owner had been mailed, and when, to the second."""
    return f"mail-cooldown:{mailbox_of(address)}:{caller}"


class SendLimits:
    def __init__(
        self,
        gate: CounterGate,
        policy: LimitPolicy,
        clock: Clock,
        *,
        blocks: PrefixBlockStore | None = None,
        fraud: FraudPolicy | None = None,
        budget: BudgetPolicy | None = None,
    ) -> None:
        """Without `blocks` the fraud guard is off (it has nowhere to keep blocks)."""
        self._gate, self._policy, self._clock = gate, policy, clock
        fraud = fraud or FraudPolicy(enabled=blocks is not None)
        self.sms = SmsAdmission(
            gate,
            policy,
            PrefixGuard(gate, blocks or _NoBlocks(), fraud),
            SmsBudget(gate, budget or BudgetPolicy()),
        )

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

    def reserve_email(
        self, address: str, ctx: RequestContext = NO_CONTEXT, *, account: str | None = None
    ) -> None:
        """Admit one code email to `address` or raise (per-address day and 10-minute caps, shared by every
        caller; the cooldown of the caller: the `account` the code is for, else the API key, else the IP),
        all in one storage request that takes nothing when any of them refuses.

        Raises:
            RateLimited: the address's caps or cooldown.
        """
        policy, gate = self._policy, self._gate
        mailbox = mailbox_of(address)  # `+detail` spellings of one mailbox share its caps
        asks = [
            gate.window_ask(f"mail:{mailbox}", window, limit, name, email=address)
            for window, limit, name in (
                (DAY, policy.sms_per_number_day, "email_per_address_day"),
                (10 * MINUTE, policy.sms_per_number_10min, "email_per_address_10min"),
            )
        ]
        if policy.resend_cooldown_seconds > 0:
            until = self._clock.now() + timedelta(seconds=policy.resend_cooldown_seconds)
            key = email_cooldown_key(address, cooldown_scope(account, ctx))
            asks.append(Ask(key, until, 1, "email_cooldown", who={"email": address}))
        gate.take_all(asks, ctx)

    def end_email_cooldown(self, address: str, account: str) -> None:
        """End the address's resend cooldown taken by the code for `account` now: its mail's reader just
        proved so with the code it paced (an email claim), and is sent on to ask for the next code at once;
        the caps still hold."""
        self._gate.counters.delete_counter(email_cooldown_key(address, cooldown_scope(account, NO_CONTEXT)))
