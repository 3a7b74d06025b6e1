"""Issuing, resending and checking one-time codes; shared by sign-in and the verification API.

The rules of SPEC section 3 live here once: codes from `secrets`, only an HMAC stored, expiry checked
before the code, the attempt counted atomically before comparing, single use by one conditional write,
and a code that could not be delivered made unusable at once.

`ChallengeService` is built from its parts, each in its own module: what a code says (`code_messages`),
sending it and arming it once sent (`code_sending`), issuing texted codes (`code_issuing`), emailed codes
and notices (`letters`), and checking codes (`code_checks`).
"""

from __future__ import annotations

from twostep.domain.clock import Clock
from twostep.domain.delivery import DEFAULT_LANGUAGE, MessageDelivery, SmsOnlyDelivery
from twostep.domain.metrics import NO_METRICS, Metrics
from twostep.domain.otp import CodeHasher
from twostep.domain.ports import ChallengeStore, EmailSender, SmsSender
from twostep.domain.receipts import SentRecorder
from twostep.services.audit import AuditService
from twostep.services.channel_texts import DEFAULT_CALL_UNITS
from twostep.services.code_checks import CodeChecks
from twostep.services.code_funnel import CodeFunnel
from twostep.services.code_issuing import CodeIssuing
from twostep.services.code_messages import CodeMessages
from twostep.services.code_sending import TEST_NUMBER_PROVIDER, CodeSending, unusable_until_sent
from twostep.services.code_spec import CodeSpec
from twostep.services.letters import Letters
from twostep.services.limits import LimitsService
from twostep.services.test_numbers import NO_TEST_NUMBERS, FixedCodeNumbers
from twostep.services.texts import CodeTexts
from twostep.texts import bundled_catalogue

__all__ = ["TEST_NUMBER_PROVIDER", "ChallengeService", "CodeSpec", "unusable_until_sent"]


class ChallengeService:
    def __init__(
        self,
        *,
        store: ChallengeStore,
        sender: SmsSender,
        delivery: MessageDelivery | None = None,
        email_sender: EmailSender | None = None,
        hasher: CodeHasher,
        limits: LimitsService,
        audit: AuditService,
        clock: Clock,
        org_name: str,
        web_origin: str | None,
        metrics: Metrics = NO_METRICS,
        test_numbers: FixedCodeNumbers = NO_TEST_NUMBERS,
        receipts: SentRecorder | None = None,
        texts: CodeTexts | None = None,
        call_units: int = DEFAULT_CALL_UNITS,
    ) -> None:
        delivery = delivery or SmsOnlyDelivery(sender)
        funnel = CodeFunnel(metrics, sender)
        messages = CodeMessages(texts=texts, org_name=org_name, web_origin=web_origin, call_units=call_units)
        sending = CodeSending(
            store=store,
            delivery=delivery,
            audit=audit,
            funnel=funnel,
            test_numbers=test_numbers,
            receipts=receipts,
        )
        self._issuing = CodeIssuing(
            store=store,
            delivery=delivery,
            hasher=hasher,
            limits=limits,
            audit=audit,
            clock=clock,
            funnel=funnel,
            test_numbers=test_numbers,
            messages=messages,
            sending=sending,
        )
        self._letters = Letters(
            store=store,
            sender=sender,
            email_sender=email_sender,
            hasher=hasher,
            limits=limits,
            audit=audit,
            clock=clock,
            funnel=funnel,
            # Emails and notices are always the bundled texts (no operator template replaces them); a
            # service built without texts writes them in English.
            texts=texts or CodeTexts(bundled_catalogue(), org=org_name, default_locale=DEFAULT_LANGUAGE),
        )
        self._checks = CodeChecks(
            store=store, hasher=hasher, limits=limits, audit=audit, clock=clock, funnel=funnel
        )
        # Each part's own methods, bound once: a caller reaches them without a forwarding call.
        self.ensure_channel = self._issuing.ensure_channel
        self.resend_after = self._issuing.resend_after
        self.issue = self._issuing.issue
        self.replace = self._issuing.replace
        self.put_back = self._issuing.put_back
        self.open_unsent = self._issuing.open_unsent
        self.wants_preference = messages.wants_preference
        self.letters = self._letters.texts  # the texts of emails and account notices
        self.issue_email = self._letters.issue_email
        self.send_email = self._letters.send_email
        self.send_notice_sms = self._letters.send_notice_sms
        self.check = self._checks.check
        self.matches_read = self._checks.matches_read
        self.use_right_code = self._checks.use_right_code
        self.check_with = self._checks.check_with
        self.check_owned = self._checks.check_owned
        self.check_reset = self._checks.check_reset
        self.purpose_of = self._checks.purpose_of

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels a code can go by here (`sms` first, then what the registry configures)."""
        return self._issuing.channels

    @property
    def resend_cooldown_seconds(self) -> int:
        return self._issuing.resend_cooldown_seconds
