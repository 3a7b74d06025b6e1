"""The standalone SMS verification API (as Flowroute's sms-verification): "text this number a code for this id; is this code right?".

Codes follow the same rules as sign-in codes because `ChallengeService` issues and checks them: an HMAC at
rest, attempts counted atomically before comparing, single use, and a code that could not be delivered is
unusable. The challenge id is derived from the caller's `auth_id` (a hash), so any string is a safe key.

A POST for an `auth_id` that already has a challenge:
- none, used, or expired: a fresh challenge with a full budget;
- live but out of attempts: refused with `RateLimited` until it expires, so a re-POST never resets the budget;
- live, same number, length and budget: `ChallengeService.replace` (new code, expiry and message; the
  attempts made stay), and the previous code is put back if the new one cannot be sent;
- live otherwise (new number, new length, fewer retries): a fresh challenge that carries over the attempts
  made; the old one is frozen first so no attempt can slip in unseen, and is put back if the new code
  cannot be sent.
On a live challenge, `code_length` and `retries` left out keep its values, and `retries` can lower the
budget but never raise it.
Creates for one `auth_id` hold a short lock in the counter store, so parallel re-POSTs cannot interleave.

A cancel (`cancel`) takes the same lock and swaps a pending code's HMAC for `CANCELED_CODE` in one
conditional write over the HMAC it read: a check racing it either used the code first (the cancel then
answers "verified") or can never match again, and a check after it answers "expired". The challenge keeps
its expiry and its attempts, so a create after a cancel is a re-create like any other (a new code at
once, the attempts made kept): a cancel and a create never reset the failure budget either. A code out
of attempts is left as it is, so a cancel never lifts the wait for its expiry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from twostep.domain.clock import Clock
from twostep.domain.delivery import SMS
from twostep.domain.errors import (
    ChallengeExpired,
    ChallengeGone,
    ChallengeNotFound,
    ChallengeUsed,
    RateLimited,
    StorageUnavailable,
    TwoStepError,
    WrongCode,
)
from twostep.domain.identity import E164, parse_phone
from twostep.domain.models import NO_CONTEXT, Challenge, RequestContext, Tenant
from twostep.domain.otp import CANCELED_CODE, CodeHasher, is_bound
from twostep.domain.ports import ChallengeStore, CounterStore
from twostep.domain.transaction import Transaction, binding_of
from twostep.services.audit import AuditService, record_quietly
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.limits import LimitsService
from twostep.services.transaction_text import bind_transaction
from twostep.services.verification_input import (
    VerifyPolicy,
    check_sent_text,
    checked_auth_id,
    checked_code,
    code_spec,
    verification_id,
)
from twostep.services.verification_status import state_of

logger = logging.getLogger("twostep.verification")

__all__ = [
    "VerificationCanceled",
    "VerificationChecked",
    "VerificationCreated",
    "VerificationService",
    "VerifyPolicy",
    "verification_id",
]

LOCK_SECONDS = 60
# A cancel whose conditional write lost to a concurrent change of the code (a check that used it, an
# automatic fallback's new code) reads again; a few rounds settle any real interleaving.
CANCEL_ROUNDS = 3
# Earlier than any real "now": a challenge frozen to this instant refuses every attempt at once.
FROZEN_AT = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class VerificationCreated:
    auth_id: str
    expires_at: datetime
    attempts_left: int


@dataclass(frozen=True, slots=True)
class VerificationChecked:
    auth_id: str


# "canceled", or what the code already was when nothing usable was left to cancel.
CancelOutcome = Literal["canceled", "verified", "expired", "exhausted"]


@dataclass(frozen=True, slots=True)
class VerificationCanceled:
    auth_id: str
    state: CancelOutcome


@dataclass(frozen=True, slots=True)
class _CreateRequest:
    challenge_id: str
    auth_id: str
    phone: E164
    spec: CodeSpec  # with defaults filled in
    code_length: int | None  # as asked: None keeps a live challenge's value
    retries: int | None


def _tenant_of(ctx: RequestContext) -> dict[str, str]:
    """The caller's tenant for the audit trail (none for keyless dev calls)."""
    return {"tenant": ctx.tenant.name} if ctx.tenant is not None else {}


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


class VerificationService:
    def __init__(
        self,
        *,
        codes: ChallengeService,
        challenges: ChallengeStore,
        counters: CounterStore,
        hasher: CodeHasher,
        limits: LimitsService,
        audit: AuditService,
        clock: Clock,
        policy: VerifyPolicy,
    ) -> None:
        self._codes, self._challenges, self._counters, self._hasher = codes, challenges, counters, hasher
        self._limits, self._audit, self._clock, self._policy = limits, audit, clock, policy

    @property
    def policy(self) -> VerifyPolicy:
        return self._policy

    def code_spec(
        self,
        code_length: int | None = None,
        expiration: int | None = None,
        retries: int | None = None,
        message: str | None = None,
        tenant: Tenant | None = None,
    ) -> CodeSpec:
        """Raises: InvalidInput naming the field (see `verification_input.code_spec`)."""
        return code_spec(self._policy, code_length, expiration, retries, message, tenant)

    def create(
        self,
        auth_id: str,
        recipient: str,
        *,
        code_length: int | None = None,
        expiration: int | None = None,
        retries: int | None = None,
        message: str | None = None,
        channel: str = SMS,
        ctx: RequestContext = NO_CONTEXT,
        transaction: Transaction | None = None,
    ) -> VerificationCreated:
        """Create or replace the code for `auth_id` and send it to `recipient` by `channel`.

        Raises:
            InvalidInput / InvalidPhoneNumber / DestinationNotAllowed: bad input (the field is named).
            ChannelNotConfigured: nothing carries `channel` here.
            RateLimited: per-IP rate, SMS caps or cooldown, a create already running for this id, or a
                challenge out of attempts that has not expired yet.
            SmsDeliveryError: the text could not be sent (no usable new code is left behind).
        """
        auth_id = checked_auth_id(auth_id)
        phone = parse_phone(recipient, field="recipient")
        self._codes.ensure_channel(channel)
        spec = replace(self.code_spec(code_length, expiration, retries, message, ctx.tenant), channel=channel)
        # A transaction's amount and payee go into the text and the code's HMAC (PSD2 dynamic linking).
        spec = bind_transaction(spec, transaction, own_message=message is not None, tenant=ctx.tenant)
        if message is not None:  # with the amount and payee now in it
            check_sent_text(spec, self._policy, ctx.tenant)
        self._limits.check_destination(phone, ctx, field="recipient")
        self._limits.check_ip("verification_create", ctx)
        challenge_id = verification_id(auth_id, ctx.tenant)
        request = _CreateRequest(challenge_id, auth_id, phone, spec, code_length, retries)
        with self._create_lock(request.challenge_id):
            challenge, mode = self._send(request, ctx)
        # The code is out and usable: bookkeeping that fails now is logged, never answered with a 503.
        record_quietly(
            self._audit, "verification_created", ctx=ctx, phone=phone, mode=mode, **_tenant_of(ctx)
        )
        return VerificationCreated(auth_id, challenge.expires_at, challenge.attempts_remaining)

    def check(
        self,
        auth_id: str,
        code: str,
        ctx: RequestContext = NO_CONTEXT,
        transaction: Transaction | None = None,
    ) -> VerificationChecked:
        """Use the code for `auth_id` if it is right (once); a code created for a transaction is right only
        with the same `transaction` (otherwise it counts, and answers, as a wrong code).

        Raises:
            InvalidInput: malformed `auth_id` or `code`.
            ChallengeNotFound, WrongCode, ChallengeExpired, ChallengeUsed, ChallengeExhausted.
        """
        # The code first, as Flowroute's service read it: a bad code is a usage error whatever the id.
        number = checked_code(code)
        auth_id = checked_auth_id(auth_id)
        challenge_id = verification_id(auth_id, ctx.tenant)
        binding = binding_of(transaction)
        try:
            read = self._challenges.get_challenge(challenge_id)  # handed on: no second read
            if read is not None and read.code_hmac == CANCELED_CODE:
                raise ChallengeExpired()  # no longer usable, and no attempt is counted on it
            self._codes.check(challenge_id, number, "verify", ctx, read=read, binding=binding)
        except ChallengeNotFound:
            # The same HMAC work as for a known id, so the answer's timing says little more than its status.
            self._hasher.digest(challenge_id, code, binding)
            self._audit.record(
                "verification_failed", ctx=ctx, reason=ChallengeNotFound.code, **_tenant_of(ctx)
            )
            raise
        except (WrongCode, ChallengeGone) as exc:
            self._audit.record("verification_failed", ctx=ctx, reason=exc.code, **_tenant_of(ctx))
            raise
        self._audit.record("verification_succeeded", ctx=ctx, **_tenant_of(ctx))
        return VerificationChecked(auth_id)

    def cancel(self, auth_id: str, ctx: RequestContext = NO_CONTEXT) -> VerificationCanceled:
        """Make the pending code of `auth_id` unusable at once (the user backed out, the order was dropped).

        Idempotent: a code already canceled answers "canceled" again; one that is already used, expired or
        out of attempts is left as it is and its state answered (nothing usable was left to cancel).

        Raises:
            InvalidInput: a malformed `auth_id`.
            ChallengeNotFound: no code was created for `auth_id` by this tenant.
            RateLimited: a create or another cancel for this `auth_id` is running (`verification_in_progress`).
            StorageUnavailable: storage failed, or the code kept changing under the cancel (a retry decides).
        """
        auth_id = checked_auth_id(auth_id)
        challenge_id = verification_id(auth_id, ctx.tenant)
        with self._create_lock(challenge_id):
            state, canceled_now = self._cancel_pending(challenge_id)
        if canceled_now:
            # The code is void already: an audit write that fails now is logged, never answered with a 503.
            record_quietly(self._audit, "verification_canceled", ctx=ctx, **_tenant_of(ctx))
        return VerificationCanceled(auth_id, state)

    def _cancel_pending(self, challenge_id: str) -> tuple[CancelOutcome, bool]:
        """The code's state after the cancel, and whether this call canceled it."""
        for _ in range(CANCEL_ROUNDS):
            current = self._challenges.get_challenge(challenge_id)
            if current is None or current.purpose != "verify":
                raise ChallengeNotFound()
            now = self._clock.now()
            state = state_of(current, now)
            if state != "pending":
                return state, False
            # Over the HMAC read: a check that used the code meanwhile, or a new code, makes this write miss.
            # The expiry stays: until then a create for the id keeps the attempts made (see the module).
            if self._challenges.put_back_code(
                challenge_id, current.code_hmac, CANCELED_CODE, current.expires_at, current.channel
            ):
                return "canceled", True
        raise StorageUnavailable("the verification code kept changing while it was being canceled")

    @contextmanager
    def _create_lock(self, challenge_id: str) -> Iterator[None]:
        """One create or cancel at a time per id: an atomic counter works as a lock that expires if its
        holder dies. A cancel holds it too, or a create's failed send could put back the code it canceled."""
        key = f"verify-lock:{challenge_id}"
        now = self._clock.now()
        if self._counters.increment_counter(key, 1, now, now + timedelta(seconds=LOCK_SECONDS)) > 1:
            raise RateLimited(
                "verification_in_progress",
                1,
                "A code for this auth_id is being sent or canceled; try again shortly.",
                quota=1,
                window=LOCK_SECONDS,
            )
        try:
            yield
        finally:
            try:
                self._counters.delete_counter(key)
            except StorageUnavailable:  # the lock lifts by itself after LOCK_SECONDS
                logger.warning("verification lock not released", extra={"lock_seconds": LOCK_SECONDS})

    def _send(self, request: _CreateRequest, ctx: RequestContext) -> tuple[Challenge, str]:
        existing = self._challenges.get_challenge(request.challenge_id)
        now = self._clock.now()
        if existing is None or existing.consumed_at is not None or existing.expires_at <= now:
            return self._fresh(request, request.spec, ctx), "new"
        # Values the caller left out keep the live challenge's; retries can lower its budget, never raise it.
        spec = replace(
            request.spec,
            length=existing.code_length if request.code_length is None else request.spec.length,
            max_attempts=min(existing.max_attempts, request.retries or existing.max_attempts),
        )
        if existing.attempts >= spec.max_attempts:
            raise self._locked_out(existing, now)
        # A code bound to a transaction (or not) is replaced in place only by one of the same kind; otherwise
        # a fresh code carries the attempts over, as for a new number.
        unchanged = (
            existing.phone,
            existing.code_length,
            existing.max_attempts,
            is_bound(existing.code_hmac),
        )
        if (request.phone, spec.length, spec.max_attempts, bool(spec.binding)) == unchanged:
            try:
                return self._codes.replace(existing, spec, ctx), "replaced"
            except (ChallengeUsed, ChallengeExpired):  # used or expired since our read: start again
                return self._fresh(request, request.spec, ctx), "new"
            except TwoStepError:
                self._codes.put_back(existing)  # a failed text must not give a whole new budget
                raise
        return self._carry_over(existing, request, spec, ctx), "carried"

    def _fresh(
        self, request: _CreateRequest, spec: CodeSpec, ctx: RequestContext, attempts: int = 0
    ) -> Challenge:
        return self._codes.issue(
            challenge_id=request.challenge_id,
            purpose="verify",
            subject=request.auth_id,
            phone=request.phone,
            spec=spec,
            ctx=ctx,
            attempts=attempts,
        )

    def _carry_over(
        self, existing: Challenge, request: _CreateRequest, spec: CodeSpec, ctx: RequestContext
    ) -> Challenge:
        """A new challenge (new number or shape) that keeps the attempts made on the old one."""
        self._challenges.expire_challenge(existing.id, FROZEN_AT)
        frozen = self._challenges.get_challenge(existing.id) or existing
        if frozen.consumed_at is not None:  # verified meanwhile: nothing to carry
            return self._fresh(request, request.spec, ctx)
        restored = replace(frozen, expires_at=existing.expires_at)
        if frozen.attempts >= spec.max_attempts:
            self._challenges.put_challenge(restored)
            raise self._locked_out(restored, self._clock.now())
        try:
            return self._fresh(request, spec, ctx, attempts=frozen.attempts)
        except TwoStepError:
            # Refused or not delivered: the previous, delivered code stays as it was.
            self._challenges.put_challenge(restored)
            raise

    @staticmethod
    def _locked_out(challenge: Challenge, now: datetime) -> RateLimited:
        return RateLimited(
            "verification_attempts_exhausted",
            _seconds_until(challenge.expires_at, now),
            "Too many wrong codes for this auth_id; a new code can be sent when the current one expires.",
            quota=challenge.max_attempts,  # per code, for as long as the code lives
        )
