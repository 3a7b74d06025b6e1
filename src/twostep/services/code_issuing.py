"""Issuing texted one-time codes: a new challenge (`issue`, `open_unsent`) or a new code for a live one
(`replace`), each code from `secrets` with only its HMAC stored, admitted by the limits before anything
is sent, and usable only once its message went out (SPEC section 3)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.delivery import MessageDelivery, OutgoingMessage
from twostep.domain.errors import (
    ChallengeUsed,
    ChannelNotConfigured,
    CodeBound,
    StorageUnavailable,
)
from twostep.domain.identity import E164
from twostep.domain.models import NO_CONTEXT, Challenge, ChallengePurpose, RequestContext
from twostep.domain.otp import CodeHasher, generate_code, is_bound
from twostep.domain.ports import ChallengeStore
from twostep.domain.receipts import SentFor
from twostep.services.audit import AuditService
from twostep.services.code_checks import ensure_open
from twostep.services.code_funnel import CodeFunnel
from twostep.services.code_messages import CodeMessages
from twostep.services.code_sending import CodeSending, unusable_until_sent
from twostep.services.code_spec import CodeSpec
from twostep.services.counting import Alongside
from twostep.services.limits import LimitsService
from twostep.services.test_numbers import FixedCodeNumbers

logger = logging.getLogger("twostep.codes")


def _sent_for(spec: CodeSpec, ctx: RequestContext) -> SentFor:
    """What a code's delivery record keeps for a fallback: its transaction binding, its bundled language
    and the verification API tenant it is sent for."""
    tenant = ctx.tenant.name if ctx.tenant is not None else None
    return SentFor(bound=bool(spec.binding), language=spec.text_language, tenant=tenant)


def _account_of(purpose: ChallengePurpose, subject: str) -> str | None:
    """The account a text is sent for (its daily cap): every purpose but a verification's auth_id."""
    return subject or None if purpose != "verify" else None


class CodeIssuing:
    def __init__(
        self,
        *,
        store: ChallengeStore,
        delivery: MessageDelivery,
        hasher: CodeHasher,
        limits: LimitsService,
        audit: AuditService,
        clock: Clock,
        funnel: CodeFunnel,
        test_numbers: FixedCodeNumbers,
        messages: CodeMessages,
        sending: CodeSending,
    ) -> None:
        self._store, self._delivery, self._hasher = store, delivery, hasher
        self._limits, self._audit, self._clock = limits, audit, clock
        self._count = funnel.count
        self._test_numbers = test_numbers
        self._messages, self._sending = messages, sending

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels a code can go by here (`sms` first, then what the registry configures)."""
        return self._delivery.channels

    def ensure_channel(self, channel: str) -> None:
        """Raises: ChannelNotConfigured when no provider carries `channel` here (before anything is spent)."""
        if channel not in self._delivery.channels:
            raise ChannelNotConfigured(channel, self._delivery.channels)

    @property
    def resend_cooldown_seconds(self) -> int:
        return self._limits.policy.resend_cooldown_seconds

    def resend_after(self, challenge: Challenge) -> datetime:
        sent = challenge.last_sent_at or challenge.created_at
        return sent + timedelta(seconds=self.resend_cooldown_seconds)

    def issue(
        self,
        *,
        challenge_id: str,
        purpose: ChallengePurpose,
        subject: str,
        phone: E164,
        spec: CodeSpec,
        ctx: RequestContext = NO_CONTEXT,
        attempts: int = 0,
        alongside: Alongside | None = None,
        credentials_tag: str | None = None,
        ends_at: datetime | None = None,
    ) -> Challenge:
        """Create a challenge and text its code; raises what `LimitsService.reserve_sms` or delivery raise.

        `attempts` carries over attempts already made (a verification re-created for a new number).
        `alongside`: counter changes the caller owes, taken with the SMS's (`reserve_sms`).
        `credentials_tag`: a login's (`Challenge.credentials_tag`).
        `ends_at`: the end a placeholder stored under `challenge_id` already answered (None: the TTL's).
        The code goes by `spec.channel`; ChannelNotConfigured is raised before anything is stored.
        """
        self.ensure_channel(spec.channel)
        self._count("requested", purpose, phone)
        spec = self._messages.localised(spec, phone, ctx)
        code = self._test_numbers.code_for(phone) or generate_code(spec.length)
        message = self._messages.message(phone, spec, code)
        account = _account_of(purpose, subject)
        self._limits.reserve_sms(
            phone, ctx, segments=self._messages.units(message), account=account, alongside=alongside
        )
        now = self._clock.now()
        challenge = Challenge(
            id=challenge_id,
            purpose=purpose,
            subject=subject,
            phone=phone,
            code_hmac=self._hasher.digest(challenge_id, code, spec.binding),
            created_at=now,
            expires_at=ends_at or now + timedelta(seconds=spec.ttl_seconds),
            max_attempts=spec.max_attempts,
            attempts=attempts,
            last_sent_at=now,
            code_length=len(code),
            channel=spec.channel,
            credentials_tag=credentials_tag,
        )
        if purpose == "verify":
            return self._issue_named(challenge, message, ctx, _sent_for(spec, ctx))
        # Stored only once its message went out, usable at once, with its delivery record and `code_sent`
        # event: one write instead of four (store unusable, record, arm, audit). A failed delivery or
        # write leaves nothing usable behind; an id no request can know yet has nothing to race with.
        sent = self._sending.deliver(challenge, message, ctx)
        event = self._sending.sent_event(challenge, sent, ctx)
        record = self._sending.sent_record(challenge, sent, _sent_for(spec, ctx))
        self._store.store_sent_challenge(challenge, (event,), record)
        self._audit.logged(event)
        return challenge

    def replace(
        self, challenge: Challenge, spec: CodeSpec, ctx: RequestContext = NO_CONTEXT, *, cooldown: bool = True
    ) -> Challenge:
        """A new code for a live challenge (resend or verification re-create); the attempt budget stays.
        `cooldown=False` skips the number's resend cooldown (only the automatic fallback after a failed
        delivery; every other cap, the fraud guard and the budgets still apply).

        Raises:
            ChallengeUsed / ChallengeExhausted: the challenge is finished.
            CodeBound: the code is bound to a transaction and `spec` binds none.
            RateLimited: cooldown or SMS caps.
            ChannelNotConfigured: nothing carries `spec.channel` here.
        """
        self.ensure_channel(spec.channel)
        # An expired challenge is over: a resend must not revive it (the caller signs in again).
        ensure_open(challenge, self._clock.now())
        if is_bound(challenge.code_hmac) and not spec.binding:
            raise CodeBound()  # e.g. an automatic fallback: it cannot know the transaction
        self._count("requested", challenge.purpose, challenge.phone)
        spec = self._messages.localised(spec, challenge.phone, ctx)
        code = self._test_numbers.code_for(challenge.phone) or generate_code(challenge.code_length)
        message = self._messages.message(challenge.phone, spec, code)
        account = _account_of(challenge.purpose, challenge.subject)
        self._limits.reserve_sms(
            challenge.phone, ctx, segments=self._messages.units(message), account=account, cooldown=cooldown
        )
        now = self._clock.now()
        replaced = self._store.replace_code(
            challenge.id,
            self._hasher.digest(challenge.id, code, spec.binding),
            unusable_until_sent(now),
            now,
            spec.channel,
        )
        if replaced is None:
            raise ChallengeUsed()
        replaced = replace(replaced, expires_at=now + timedelta(seconds=spec.ttl_seconds))
        sent = self._sending.deliver(replaced, message, ctx)
        self._sending.record_sent(replaced, sent, _sent_for(spec, ctx))
        return self._sending.arm(replaced, self._sending.sent_event(replaced, sent, ctx))

    def put_back(self, previous: Challenge) -> None:
        """After a failed `replace` of `previous` (as read before it), the previous code as it was, with
        the attempts and sends made meanwhile, unless another code was stored since; never raises (a
        storage failure is logged).

        `replace` stores the new code unusable (expired) before sending it; left so, the challenge would
        look over, and a verification's next create would start one with a whole budget: every failed
        text (a resend's, or an automatic fallback's) would give a caller a fresh set of guesses and
        sends. While the new code is unusable no attempt counts, so the attempts read now are all there are.
        """
        try:
            current = self._store.get_challenge(previous.id)
            if current is None or current.consumed_at is not None or current.code_hmac == previous.code_hmac:
                return  # used meanwhile, or refused before the new code was stored: nothing to put back
            if current.expires_at > self._clock.now():
                return  # armed: another code (an automatic fallback's, a resend's) went out meanwhile
            # Only over the code read here: a resend or create that stored its own code since this read
            # (the fallback holds no create lock) keeps it; overwritten, its delivered code answered wrong.
            self._store.put_back_code(
                previous.id, current.code_hmac, previous.code_hmac, previous.expires_at, previous.channel
            )
        except StorageUnavailable:  # the caller has the first failure; the code stays unusable
            logger.warning("previous code not put back: storage unavailable")

    def _issue_named(
        self,
        challenge: Challenge,
        message: OutgoingMessage,
        ctx: RequestContext,
        sent_for: SentFor,
    ) -> Challenge:
        """`issue` for an id the caller names (a verification's auth_id), which it may check after a
        failed create: stored unusable first, so that check answers "expired" (the ExpiredAuthCode of
        Flowroute's sms-verification), then armed once its message went out."""
        self._store.put_challenge(replace(challenge, expires_at=unusable_until_sent(challenge.created_at)))
        sent = self._sending.deliver(challenge, message, ctx)
        self._sending.record_sent(challenge, sent, sent_for)
        return self._sending.arm(challenge, self._sending.sent_event(challenge, sent, ctx))

    def open_unsent(
        self,
        *,
        challenge_id: str,
        subject: str,
        phone: E164,
        spec: CodeSpec,
        ttl_seconds: int,
        credentials_tag: str | None = None,
    ) -> Challenge:
        """A login challenge whose code is not texted (yet): another factor is expected first.

        No texted code can match it (`code_hmac` is empty) until `replace` sends one (the SMS fallback).
        """
        now = self._clock.now()
        challenge = Challenge(
            id=challenge_id,
            purpose="login",
            subject=subject,
            phone=phone,
            code_hmac="",
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            max_attempts=spec.max_attempts,
            sends=0,
            code_length=spec.length,
            credentials_tag=credentials_tag,
        )
        self._store.put_challenge(challenge)
        return challenge
