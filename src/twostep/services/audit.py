"""The audit trail: append-only security events with personal data minimised (ASVS 16.3)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from twostep.domain.clock import Clock
from twostep.domain.errors import StorageUnavailable
from twostep.domain.identity import mask_phone
from twostep.domain.models import NO_CONTEXT, AuditEvent, RequestContext
from twostep.domain.ports import AuditStore

logger = logging.getLogger("twostep.audit")

EVENTS = frozenset(
    {
        "user_registered",
        "login_succeeded",
        "login_failed",
        "code_sent",
        "code_failed",
        "code_verified",
        "code_delivery_failed",
        "code_delivered",  # a provider's receipt: the message reached the phone (services/receipts.py)
        "code_fallback",
        # a login's text could not go out; another factor was offered (services/login_password_step.py)
        "login_code_not_sent",  # a failed text's code sent again by another channel (services/fallback.py)
        "limit_hit",
        "second_factor_locked",
        "token_reuse",
        "logout",
        "verification_created",
        "verification_succeeded",
        "verification_failed",
        "verification_canceled",
        "user_deleted",
        "user_locked",
        "session_ended",
        "sessions_ended",
        "user_unlocked",
        "phone_verified",
        "email_verified",
        "phone_changed",
        "email_changed",
        "password_changed",
        "password_reset_requested",
        "password_reset",
        "password_reset_failed",  # refused after its right code: the account changed since it began
        "password_change_failed",  # refused after its right password: the account changed meanwhile
        "email_change_failed",  # a new or proven address refused after its right code: as above
        "phone_change_failed",  # a new number refused after its right code: the account changed since
        # an unproven address taken back by its owner (services/email_claims.py)
        "email_claim_requested",
        "email_claimed",  # the claimant's side: the address is free for a sign-up
        "email_released",  # the account's side: it lost the address it never proved
        "notice_sent",
        "destination_blocked",
        "destination_unblocked",
        # second factors beyond SMS (services/factors.py, passkeys.py, devices.py)
        "factor_enabled",
        "factor_removed",
        "passkey_registration_failed",  # refused at its options (the limit) or its finish (reason: the code)
        "recovery_codes_generated",
        "recovery_code_used",
        "device_remembered",
        "device_forgotten",
    }
)


def email_fingerprint(email: str, key: bytes | None = None) -> str:
    """A stable stand-in for an email in the trail (for unknown accounts too).

    Keyed (HMAC) when a key is given, so that nobody holding only the trail can test guessed emails.
    """
    if key is None:
        return hashlib.sha256(b"twostep-audit\x00" + email.encode()).hexdigest()[:24]
    return hmac.new(key, b"twostep-audit\x00" + email.encode(), hashlib.sha256).hexdigest()[:24]


class AuditService:
    def __init__(self, store: AuditStore, clock: Clock, fingerprint_key: bytes | None = None) -> None:
        self._store = store
        self._clock = clock
        # Derived, so the audit fingerprint never equals anything the source key is used for elsewhere.
        self._key = (
            hmac.new(fingerprint_key, b"twostep-audit-email", hashlib.sha256).digest()
            if fingerprint_key
            else None
        )

    def record(
        self,
        event: str,
        *,
        ctx: RequestContext = NO_CONTEXT,
        user_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        **detail: str,
    ) -> None:
        entry = self.entry(event, ctx=ctx, user_id=user_id, email=email, phone=phone, **detail)
        self._store.append_audit(entry)
        logger.info("audit", extra={"event": event, "user_id": user_id, "request_id": ctx.request_id})

    def entry(
        self,
        event: str,
        *,
        ctx: RequestContext = NO_CONTEXT,
        user_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        **detail: str,
    ) -> AuditEvent:
        """An event as `record` would store it, for `record_all`."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event}")
        return AuditEvent(
            event=event,
            at=self._clock.now(),
            user_id=user_id,
            email_hash=email_fingerprint(email, self._key) if email else None,
            phone_masked=mask_phone(phone) if phone else None,
            ip=ctx.ip,
            request_id=ctx.request_id,
            detail=detail,
        )

    def record_all(self, *entries: AuditEvent) -> None:
        """Events that happened together, stored together (one storage request, in order)."""
        self._store.append_audits(entries)
        self.logged(*entries)

    def logged(self, *entries: AuditEvent) -> None:
        """The log lines of events stored by another write (a session stored with its step's events)."""
        for e in entries:
            logger.info("audit", extra={"event": e.event, "user_id": e.user_id, "request_id": e.request_id})

    def fingerprint(self, email: str) -> str:
        """The `email_hash` this trail records for `email` (to look an address up)."""
        return email_fingerprint(email, self._key)

    def tail(self, user_id: str | None = None, limit: int = 50) -> list[AuditEvent]:
        """The `limit` newest events (optionally of one user), oldest first."""
        return self._store.list_audit(user_id=user_id, limit=limit)


def record_quietly(audit: AuditService, event: str, **fields: Any) -> None:
    """Record an event after the request already succeeded: if storage refuses, the event goes to the
    error log instead and the request still succeeds (a 503 now would disown a code already sent)."""
    try:
        audit.record(event, **fields)
    except StorageUnavailable:
        logger.error("audit event not stored", extra={"event": event})
