"""The audit trail: append-only security events with personal data minimised (ASVS 16.3)."""

from __future__ import annotations

import hashlib
import logging

from twostep.domain.clock import Clock
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
        "limit_hit",
        "second_factor_locked",
        "token_reuse",
        "logout",
        "verification_created",
        "verification_succeeded",
        "verification_failed",
        "user_deleted",
    }
)


def email_fingerprint(email: str) -> str:
    """A stable, non-reversible stand-in for an email in the trail (for unknown accounts too)."""
    return hashlib.sha256(b"twostep-audit\x00" + email.encode()).hexdigest()[:24]


class AuditService:
    def __init__(self, store: AuditStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

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
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event}")
        entry = AuditEvent(
            event=event,
            at=self._clock.now(),
            user_id=user_id,
            email_hash=email_fingerprint(email) if email else None,
            phone_masked=mask_phone(phone) if phone else None,
            ip=ctx.ip,
            request_id=ctx.request_id,
            detail=detail,
        )
        self._store.append_audit(entry)
        logger.info("audit", extra={"event": event, "user_id": user_id, "request_id": ctx.request_id})

    def tail(self, user_id: str | None = None, limit: int = 50) -> list[AuditEvent]:
        return self._store.list_audit(user_id=user_id, limit=limit)
