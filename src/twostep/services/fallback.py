"""Automatic fallback: a texted code the network could not deliver goes again by another channel.

When a receipt says a code's SMS `failed` or was `undelivered` (`DeliveryReceipts` calls `after_failure`
once per message, for the one receipt that settled it), and the code is still valid and unused, a fresh
code goes by the first channel of `TWOSTEP_FALLBACK_CHANNELS` (`voice,whatsapp`) that this deployment
carries. It goes through `ChallengeService.replace`, like a resend: a new code, the old one void, the
attempts made kept, the per-number caps, the fraud guard and the SMS budgets applied (only the
number's resend cooldown, which paces people asking again, is skipped: receipts of failures often
come within seconds). At most once per challenge: an atomic counter decides, so two failure receipts
racing (or a failed fallback message) never send a third message. A code bound to a transaction
(amount and payee in its text and HMAC, PSD2 dynamic linking) never falls back: `forgo` takes that one
chance when it is sent, since no fallback message could carry the same binding. The fallback speaks
(or writes) the language the failed text was written in, as its delivery record keeps it (the
request's `locale` or `Accept-Language` chose it then; the receipt names none). A record without one
(kept before the language was stored) falls back to the chain without a request: the account's stored
language for an account's code, then the number's country. A verification's fallback acts for the
tenant whose request sent the code (its delivery record names it): counted against that tenant's caps,
in that tenant's template; a tenant no longer configured gets no fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.delivery import SMS
from twostep.domain.errors import StorageUnavailable, TwoStepError
from twostep.domain.models import NO_CONTEXT, Challenge, RequestContext, Tenant
from twostep.domain.otp import CANCELED_CODE
from twostep.domain.ports import CounterStore, UserStore
from twostep.domain.receipts import Delivery, DeliveryStore
from twostep.services.audit import AuditService, record_quietly
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.receipts import audit_subject

logger = logging.getLogger("twostep.receipts")

MIN_TTL_SECONDS = 30  # CodeSpec floor: a fallback code lives at least this long


class ChannelFallback:
    def __init__(
        self,
        *,
        codes: ChallengeService,
        deliveries: DeliveryStore,
        counters: CounterStore,
        audit: AuditService,
        clock: Clock,
        order: Sequence[str],
        specs: Mapping[str, CodeSpec],
        users: UserStore | None = None,
        tenants: Callable[[str], Tenant | None] | None = None,
        tenant_spec: Callable[[Tenant], CodeSpec] | None = None,
        second_step_allowed: Callable[[str], None] | None = None,
    ) -> None:
        self._codes, self._deliveries, self._counters = codes, deliveries, counters
        self._users = users  # the account's stored language, for an account's code
        self._audit, self._clock = audit, clock
        self._order = tuple(order)
        self._specs = specs  # the code spec of each purpose: length, template, voice text
        self._tenants = tenants  # a verification tenant by name (None: no tenant is known here)
        self._tenant_spec = tenant_spec  # a verification's code spec for a tenant (its template)
        # Raises for a sign-in's account that may get no more codes (`LimitsService.check_second_factor_allowed`)
        self._second_step_allowed = second_step_allowed

    def forgo(self, challenge_id: str, until: datetime) -> None:
        """Never fall back for this challenge: its code is bound to a transaction (amount, payee) that
        lives only in its HMAC and text, so no other message could carry the same binding.

        Raises:
            StorageUnavailable.
        """
        self._counters.increment_counter(_key(challenge_id), 1, self._clock.now(), until)

    def after_failure(self, delivery: Delivery, challenge: Challenge) -> None:
        """Send the code again by the next channel, if all the rules allow; never raises (the receipt
        itself is recorded either way)."""
        try:
            self._fall_back(delivery, challenge)
        except StorageUnavailable:
            logger.error("fallback not decided: storage unavailable", extra={"channel": delivery.channel})

    def _fall_back(self, delivery: Delivery, challenge: Challenge) -> None:
        channel = self._next_channel(delivery, challenge)
        if channel is None:
            return
        acting = self._acting_for(delivery)
        if acting is None:
            logger.warning("fallback not sent: the code's tenant is no longer configured")
            return
        ctx, tenant_spec = acting
        if not self._sign_in_may_get_codes(delivery, challenge, channel):
            return
        # Read before the once-only spend: a storage failure here leaves the fallback to the next receipt.
        locale = delivery.language or self._stored_locale(challenge)
        now = self._clock.now()
        # One fallback per challenge, decided by one atomic increment (kept past the code's lifetime).
        until = challenge.expires_at + timedelta(days=1)
        if self._counters.increment_counter(_key(challenge.id), 1, now, until) != 1:
            return
        base = tenant_spec or self._specs[challenge.purpose]
        sent_at = challenge.last_sent_at or challenge.created_at
        lifetime = max(MIN_TTL_SECONDS, int((challenge.expires_at - sent_at).total_seconds()))
        spec = replace(
            base,
            channel=channel,
            length=challenge.code_length,
            ttl_seconds=lifetime,
            preferred_locale=locale,
        )
        try:
            self._codes.replace(challenge, spec, ctx, cooldown=False)
        except TwoStepError as exc:  # refused (caps, fraud guard, budget) or not delivered either
            # Not delivered either: the new code was stored unusable, and left so the challenge looked
            # over, so a verification's next create started a whole new budget of attempts and sends.
            self._codes.put_back(challenge)
            self._refused(delivery, challenge, channel, exc)
            return
        logger.info("fallback sent", extra={"channel": channel, "failed_channel": delivery.channel})
        self._audited(delivery, challenge, channel, outcome="sent")

    def _sign_in_may_get_codes(self, delivery: Delivery, challenge: Challenge, channel: str) -> bool:
        """False, audited as refused, for a sign-in's code whose account is locked (an administrator's
        lock, or its wrong codes): a resend is refused then, and the new code could not be used either.

        Raises:
            StorageUnavailable.
        """
        if challenge.purpose != "login" or self._second_step_allowed is None:
            return True
        try:
            self._second_step_allowed(challenge.subject)
        except StorageUnavailable:
            raise
        except TwoStepError as exc:  # AccountLocked, RateLimited("second_factor_locked")
            self._refused(delivery, challenge, channel, exc)
            return False
        return True

    def _refused(self, delivery: Delivery, challenge: Challenge, channel: str, refusal: TwoStepError) -> None:
        """Logged and audited: no fallback code went out, and why."""
        logger.warning("fallback not sent", extra={"channel": channel, "code": refusal.code})
        self._audited(delivery, challenge, channel, outcome="refused", reason=refusal.code)

    def _audited(self, delivery: Delivery, challenge: Challenge, channel: str, **outcome: str) -> None:
        """The fallback's `code_fallback` event: its channel, the one that failed, and its outcome."""
        record_quietly(
            self._audit,
            "code_fallback",
            phone=challenge.phone,
            channel=channel,
            failed_channel=delivery.channel,
            **outcome,
            **audit_subject(challenge),
        )

    def _acting_for(self, delivery: Delivery) -> tuple[RequestContext, CodeSpec | None] | None:
        """Whom the fallback acts for: the request context (its tenant, whose caps count the message) and
        that tenant's code spec (None: the purpose's own); None when the record's tenant is unknown now."""
        if delivery.tenant is None:
            return NO_CONTEXT, None
        tenant = self._tenants(delivery.tenant) if self._tenants is not None else None
        if tenant is None:
            return None
        spec = self._tenant_spec(tenant) if self._tenant_spec is not None else None
        return RequestContext(tenant=tenant), spec

    def _stored_locale(self, challenge: Challenge) -> str | None:
        """The account's language for an account's code (a verification's subject is no account)."""
        if self._users is None or challenge.purpose == "verify" or not challenge.subject:
            return None
        user = self._users.get_user(challenge.subject)
        return user.locale if user else None

    def _next_channel(self, delivery: Delivery, challenge: Challenge) -> str | None:
        """The channel to try, or None when the rules say no fallback."""
        now = self._clock.now()
        if (
            delivery.channel != SMS  # only a failed text falls back (a failed call is the end of it)
            or not challenge.phone
            or challenge.purpose not in self._specs
            or challenge.consumed_at is not None
            or challenge.code_hmac == CANCELED_CODE  # a verification canceled by its caller
            or challenge.expires_at <= now
            or challenge.attempts >= challenge.max_attempts
        ):
            return None
        latest = self._deliveries.latest_delivery(challenge.id)
        if latest is None or latest.key != delivery.key:
            return None  # an older code's message: a newer one is already on its way
        for channel in self._order:
            try:
                self._codes.ensure_channel(channel)
            except TwoStepError:
                continue
            return channel
        return None


def _key(challenge_id: str) -> str:
    """The counter that lets one fallback happen per challenge (or none, once `forgo` took it)."""
    return f"fallback:{challenge_id}"
