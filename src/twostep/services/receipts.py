"""Delivery receipts: a record per message a code went out in, moved forward by the provider's receipts.

`record_sent` runs right after a provider took a message; `apply` runs for each authenticated receipt
(Twilio status callback, Flowroute DLR, SNS delivery-status log line). Storage moves a record only to
a later stage, with one conditional write, so of two receipts racing for one message exactly one
changes it, and a late `sent` never hides a `delivered`. Only that one caller audits the outcome and,
for a failure, asks the fallback to send the code by another channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from twostep.domain.clock import Clock
from twostep.domain.delivery import SentMessage
from twostep.domain.errors import StorageUnavailable
from twostep.domain.metrics import NO_METRICS, Metrics
from twostep.domain.models import Challenge, Tenant
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.domain.receipts import (
    FAILED_STATUSES,
    PLAIN_CODE,
    Delivery,
    DeliveryStore,
    Receipt,
    SentFor,
    UnknownMessage,
    is_final,
)
from twostep.services.audit import AuditService, record_quietly
from twostep.services.verification_status import VerificationStatus, VerificationStatusReader

logger = logging.getLogger("twostep.receipts")

# Receipts can trail their message by hours (a phone switched off); the record outlives its code so
# they still find it. Housekeeping deletes it afterwards (DynamoDB: TTL).
RECORD_SECONDS = 2 * 86_400
# Ids a provider answered without, or a placeholder: nothing a receipt could name.
NO_ID = frozenset({"", "unknown"})

Outcome = Literal["recorded", "unchanged"]
# Called once per message that failed for good (its record just moved to failed/undelivered).
OnFailure = Callable[[Delivery, Challenge], None]
# Called with a challenge id (and until when it matters) when a transaction-bound code is sent.
OnBound = Callable[[str, datetime], None]


class DeliveryReceipts:
    def __init__(
        self,
        *,
        store: DeliveryStore,
        challenges: ChallengeStore,
        audit: AuditService,
        clock: Clock,
        metrics: Metrics = NO_METRICS,
        accounts: UserStore | None = None,
    ) -> None:
        self._store, self._challenges, self._audit, self._clock = store, challenges, audit, clock
        self._accounts = accounts  # is an account's code still of an account? (see `_settled`)
        self._metrics = metrics
        self._on_failure: OnFailure | None = None
        self._on_bound: OnBound | None = None
        self._verifications = VerificationStatusReader(challenges, store, clock)

    def on_failure(self, handler: OnFailure) -> None:
        """Who hears of a message that failed for good (the channel fallback)."""
        self._on_failure = handler

    def on_bound(self, handler: OnBound) -> None:
        """Who hears of a transaction-bound code being sent (the fallback, which must never re-send one)."""
        self._on_bound = handler

    def record_sent(self, challenge_id: str, sent: SentMessage, sent_for: SentFor = PLAIN_CODE) -> None:
        """A provider took a message for the challenge; never raises (the code is already out)."""
        record = self.sent_record(challenge_id, sent, sent_for)
        if record is None:
            return
        try:
            self._store.add_delivery(record)
        except StorageUnavailable:
            logger.error(
                "delivery record not stored", extra={"provider": sent.provider, "channel": sent.channel}
            )

    def sent_record(
        self, challenge_id: str, sent: SentMessage, sent_for: SentFor = PLAIN_CODE
    ) -> Delivery | None:
        """The record to store for a message a provider took (None: none to store, no receipt could
        match it); never raises. For the caller that stores it with its challenge in one write."""
        now = self._clock.now()
        if sent_for.bound and self._on_bound is not None:
            # Before the record exists, so no receipt can find the message first.
            try:
                self._on_bound(challenge_id, now + timedelta(seconds=RECORD_SECONDS))
            except StorageUnavailable:
                logger.error("bound code not marked; no record kept", extra={"provider": sent.provider})
                return None  # without a record no receipt matches, so no fallback can follow either
        if sent.message_id in NO_ID:
            return None
        return Delivery(
            provider=sent.provider,
            message_id=sent.message_id,
            challenge_id=challenge_id,
            channel=sent.channel,
            status="sent",
            sent_at=now,
            updated_at=now,
            expires_at=now + timedelta(seconds=RECORD_SECONDS),
            language=sent_for.language,
            tenant=sent_for.tenant,
        )

    def apply(self, receipt: Receipt) -> Outcome:
        """Move the message's record to what the receipt says, if that is news.

        Raises:
            UnknownMessage: no record of this provider's message id (never sent here, or expired).
            StorageUnavailable.
        """
        moved = self._store.advance_delivery(
            receipt.provider, receipt.message_id, receipt.status, receipt.error_code, self._clock.now()
        )
        if moved is None:
            if self._store.get_delivery(receipt.provider, receipt.message_id) is None:
                raise UnknownMessage()
            return "unchanged"  # replayed, late or out of order: the record already says as much or more
        self._metrics.delivery_receipt(provider=moved.provider, status=moved.status)
        logger.info(
            "delivery receipt",
            extra={"provider": moved.provider, "channel": moved.channel, "status": moved.status},
        )
        if is_final(moved.status):
            self._settled(moved)
        return "recorded"

    def latest(self, challenge_id: str) -> Delivery | None:
        """The newest message's record for the challenge (None: nothing recorded)."""
        return self._store.latest_delivery(challenge_id)

    def verification_status(self, auth_id: str, tenant: Tenant | None) -> VerificationStatus:
        """The state of a verification code and its newest message's delivery.

        Raises:
            InvalidInput, ChallengeNotFound.
        """
        return self._verifications.read(auth_id, tenant)

    def _settled(self, delivery: Delivery) -> None:
        """Audit a final status (and fall back after a failure); the record already moved, so nothing
        here fails the receipt."""
        try:
            challenge = self._challenges.get_challenge(delivery.challenge_id)
            account_gone = challenge is not None and self._account_gone(challenge)
        except StorageUnavailable:
            logger.error(
                "challenge (or its account) of a settled delivery unreadable",
                extra={"provider": delivery.provider},
            )
            challenge, account_gone = None, False
        failed = delivery.status in FAILED_STATUSES
        # A deleted account's code: its trail was pseudonymised and must not name it again, and nobody
        # may be sent a fresh code for an account that no longer exists.
        who = (
            {"purpose": challenge.purpose}
            if challenge is not None and account_gone
            else audit_subject(challenge)
        )
        detail = {"provider": delivery.provider, "channel": delivery.channel, "status": delivery.status}
        if delivery.error_code:
            detail["error_code"] = delivery.error_code
        record_quietly(
            self._audit,
            "code_delivery_failed" if failed else "code_delivered",
            phone=challenge.phone if challenge is not None and challenge.phone and not account_gone else None,
            source="receipt",
            **who,
            **detail,
        )
        if failed and challenge is not None and not account_gone and self._on_failure is not None:
            self._on_failure(delivery, challenge)

    def _account_gone(self, challenge: Challenge) -> bool:
        """True for the code of an account that has since been deleted (a verification's subject is
        the caller's id, no account; a reset for an unknown email has none).

        Raises:
            StorageUnavailable.
        """
        if self._accounts is None or challenge.purpose == "verify" or not challenge.subject:
            return False
        return self._accounts.get_user(challenge.subject) is None


def audit_subject(challenge: Challenge | None) -> dict[str, str]:
    """The account (user_id) or the verification (auth_id) a code belongs to, for the audit trail."""
    if challenge is None:
        return {}
    if challenge.purpose == "verify":
        return {"auth_id": challenge.subject, "purpose": challenge.purpose}
    return {"user_id": challenge.subject, "purpose": challenge.purpose}
