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

`LimitsService` is one service over five parts: per client IP (`ip_limits`), the password step's
progressive delay and its settling (`login_limits`), the second step's wrong-code budget
(`code_limits`), a password reset's own (`reset_limits`), and each SMS or code email sent (`send_limits`).
"""

from __future__ import annotations

from twostep.domain.clock import Clock
from twostep.domain.metrics import NO_METRICS, Metrics
from twostep.domain.ports import CounterStore, PrefixBlockStore
from twostep.services.audit import AuditService
from twostep.services.code_limits import CodeLimits, code_failures_key
from twostep.services.counting import MESSAGES, CounterGate
from twostep.services.ip_limits import IpLimits
from twostep.services.limits_policy import LimitPolicy, ip_bucket
from twostep.services.login_limits import LoginAttempt, LoginLimits, login_failures_key
from twostep.services.prefix_guard import FraudPolicy
from twostep.services.reset_limits import ResetLimits
from twostep.services.send_limits import SendLimits
from twostep.services.sms_admission import SmsRequest
from twostep.services.sms_budget import BudgetPolicy

__all__ = [
    "MESSAGES",
    "BudgetPolicy",
    "FraudPolicy",
    "LimitPolicy",
    "LimitsService",
    "LoginAttempt",
    "SmsRequest",
    "code_failures_key",
    "ip_bucket",
    "login_failures_key",
]


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
        self._policy = policy
        gate = CounterGate(counters, clock, audit, metrics)
        sending = SendLimits(gate, policy, clock, blocks=blocks, fraud=fraud, budget=budget)
        ip = IpLimits(counters, policy, clock, gate)
        codes = CodeLimits(counters, policy, clock, audit, gate, sending.sms.guard)
        login = LoginLimits(counters, policy, clock, gate, ip=ip, codes=codes)
        resets = ResetLimits(policy, gate, audit.fingerprint)
        self.sms = sending.sms
        # Each part's own methods, bound once: a caller reaches them without a forwarding call.
        self.check_ip = ip.check_ip
        self.begin_login = login.begin_login
        self.begin_login_finding_user = login.begin_login_finding_user
        self.login_succeeded = login.login_succeeded
        self.settle_with_code = login.settle_with_code
        self.check_second_factor_allowed = codes.check_second_factor_allowed
        self.check_code_failures = codes.check_code_failures
        self.begin_code_attempt = codes.begin_code_attempt
        self.code_attempt_failed = codes.code_attempt_failed
        self.code_attempt_void = codes.code_attempt_void
        self.reset_code_failures = codes.reset_code_failures
        self.code_succeeded = codes.code_succeeded
        self.code_success_counts = codes.code_success_counts
        self.begin_reset_attempt = resets.begin_reset_attempt
        self.reset_attempt_not_wrong = resets.reset_attempt_not_wrong
        self.count_reset_request = resets.count_reset_request
        self.check_destination = sending.check_destination
        self.reserve_sms = sending.reserve_sms
        self.reserve_notice = sending.reserve_notice
        self.reserve_email = sending.reserve_email
        self.end_email_cooldown = sending.end_email_cooldown

    @property
    def policy(self) -> LimitPolicy:
        return self._policy
