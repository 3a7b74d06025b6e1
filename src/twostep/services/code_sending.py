"""Sending a code's message and making the code usable: delivered through its channel (a test number's
fixed code is never sent), its delivery record kept for receipts, then armed with its `code_sent` event.
A code that could not be delivered stays unusable (SPEC section 3)."""

from __future__ import annotations

from datetime import datetime, timedelta

from twostep.domain.delivery import MessageDelivery, OutgoingMessage, SentMessage
from twostep.domain.errors import ChallengeUsed, SmsDeliveryError
from twostep.domain.models import AuditEvent, Challenge, RequestContext
from twostep.domain.ports import ChallengeStore
from twostep.domain.receipts import Delivery, SentFor, SentRecorder
from twostep.services.audit import AuditService
from twostep.services.code_funnel import CodeFunnel
from twostep.services.test_numbers import FixedCodeNumbers

# The `provider` a test number's code "went" by in the audit trail: nothing was sent.
TEST_NUMBER_PROVIDER = "none"

# How long before the moment it is stored a code on its way counts as expired: clocks of hosts sharing
# one database may be a little apart, and none may see the code open.
UNSENT_MARGIN = timedelta(seconds=1)


def unusable_until_sent(stored_at: datetime) -> datetime:
    """The expiry a replaced (resent) or verification code is stored with until its message went out,
    then armed: until then no attempt counts and no check succeeds, and a request that fails before
    arming leaves nothing usable. (Other new codes, texted or emailed, are stored only once sent: `issue`,
    `Letters.issue_email`.)

    Expired just before `stored_at`, not at a time long past: housekeeping deletes a code
    TWOSTEP_PURGE_GRACE_SECONDS after its expiry, and DynamoDB's TTL a day after, so a code dated long
    past could be deleted while its message was on its way, and the request answered 410 `code_used`
    after the text had gone out (a long soak: 1 resend in 45,000 with the purge running).
    """
    return stored_at - UNSENT_MARGIN


class CodeSending:
    def __init__(
        self,
        *,
        store: ChallengeStore,
        delivery: MessageDelivery,
        audit: AuditService,
        funnel: CodeFunnel,
        test_numbers: FixedCodeNumbers,
        receipts: SentRecorder | None,
    ) -> None:
        self._store, self._delivery, self._audit = store, delivery, audit
        self._count = funnel.count
        self._test_numbers = test_numbers
        self._receipts = receipts  # told of each message sent, to match its delivery receipts

    def deliver(self, challenge: Challenge, message: OutgoingMessage, ctx: RequestContext) -> SentMessage:
        """Hand `message` to its channel's provider (a test number's fixed code is never sent).

        Raises:
            SmsDeliveryError: not delivered (counted and audited as `code_delivery_failed`).
        """
        who = _who(challenge)
        if self._test_numbers.code_for(challenge.phone) is not None:
            # A test number: its fixed code is never sent, so no provider took it.
            return SentMessage(provider=TEST_NUMBER_PROVIDER, message_id="", channel=message.channel)
        try:
            sent = self._delivery.deliver(message)
        except SmsDeliveryError as exc:
            # Stored unusable and never armed: nobody may use a code that was never delivered (it could
            # reach the wrong hands later).
            self._count("undelivered", challenge.purpose, challenge.phone)
            self._audit.record(
                "code_delivery_failed",
                ctx=ctx,
                phone=challenge.phone,
                reason=exc.reason,
                purpose=challenge.purpose,
                channel=message.channel,
                **who,
            )
            raise
        self._count("sent", challenge.purpose, challenge.phone)
        return sent

    def sent_event(self, challenge: Challenge, sent: SentMessage, ctx: RequestContext) -> AuditEvent:
        """The `code_sent` event of a delivered code (and the channel and provider it went by)."""
        who = _who(challenge)
        if self._test_numbers.code_for(challenge.phone) is not None:
            who["test_number"] = "true"  # a fixed code, nothing was texted
        return self._audit.entry(
            "code_sent",
            ctx=ctx,
            phone=challenge.phone,
            purpose=challenge.purpose,
            channel=sent.channel,
            provider=sent.provider,
            **who,
        )

    def record_sent(self, challenge: Challenge, sent: SentMessage, sent_for: SentFor) -> None:
        """The delivery record, stored before the arm so a receipt of the message finds it at once."""
        if self._receipts is not None and self._test_numbers.code_for(challenge.phone) is None:
            self._receipts.record_sent(challenge.id, sent, sent_for)

    def sent_record(self, challenge: Challenge, sent: SentMessage, sent_for: SentFor) -> Delivery | None:
        """The delivery record of a message a provider took, for its receipts (None: nothing to keep:
        no receipts here, a test number's code that was never sent, or an id no receipt can name).
        `bound`: a transaction's code, which only its own text may carry (no fallback re-sends it)."""
        if self._receipts is None or self._test_numbers.code_for(challenge.phone) is not None:
            return None
        return self._receipts.sent_record(challenge.id, sent, sent_for)

    def arm(self, challenge: Challenge, sent: AuditEvent) -> Challenge:
        """The delivered code becomes usable, stored with its `code_sent` event in one write (the event
        is stored only when the code armed; one storage request instead of two). If this write fails the
        request fails (503) and the code stays unusable: an answer of 503 never leaves a working code behind.

        Raises:
            StorageUnavailable; ChallengeUsed: a newer code replaced it, or it was used, meanwhile.
        """
        armed = self._store.arm_challenge_audited(challenge, (sent,))
        if armed is None:
            raise ChallengeUsed()
        self._audit.logged(sent)
        return armed


def _who(challenge: Challenge) -> dict[str, str]:
    """Whose code it is, for its audit events: a login's subject is a user id, a verification's the
    caller's auth_id (kept as detail)."""
    return {"auth_id" if challenge.purpose == "verify" else "user_id": challenge.subject}
