"""Wires the automatic channel fallback onto delivery receipts for the container (`TWOSTEP_FALLBACK_CHANNELS`);
kept apart so `container.py` stays one screen of wiring."""

from __future__ import annotations

from collections.abc import Callable

from twostep.domain.clock import Clock
from twostep.domain.ports import Storage
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.fallback import ChannelFallback
from twostep.services.receipts import DeliveryReceipts
from twostep.services.tenants import TenantDirectory
from twostep.services.verification import VerificationService
from twostep.settings import Settings


def attach_fallback(
    settings: Settings,
    receipts: DeliveryReceipts,
    parts: tuple[Storage, ChallengeService, AuditService, Clock],
    specs: tuple[CodeSpec, CodeSpec, VerificationService],
    tenants: TenantDirectory,
    second_step_allowed: Callable[[str], None] | None = None,
) -> ChannelFallback | None:
    """The fallback `receipts` calls for a failed text, when channels are configured for it (else None).

    `specs` are the sign-in code's, the account codes' and the verification service (its default code);
    `second_step_allowed` raises for an account whose sign-in may get no more codes (locked).
    """
    if not settings.fallback_channels:
        return None
    storage, codes, audit, clock = parts
    login_spec, account_spec, verification = specs
    fallback = ChannelFallback(
        codes=codes,
        deliveries=storage,
        counters=storage,
        audit=audit,
        clock=clock,
        order=settings.fallback_channels,
        specs={
            "login": login_spec,
            "verify": verification.code_spec(),
            "reset": account_spec,
            "phone_change": account_spec,
        },
        users=storage,
        tenants=tenants.tenant,
        tenant_spec=lambda tenant: verification.code_spec(tenant=tenant),
        second_step_allowed=second_step_allowed,
    )
    receipts.on_failure(fallback.after_failure)
    receipts.on_bound(fallback.forgo)
    return fallback
