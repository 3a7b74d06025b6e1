"""Issuing, resending and checking one-time codes; shared by sign-in and the verification API.

The rules of SPEC section 3 live here once: codes from `secrets`, only an HMAC stored, expiry checked
before the code, the attempt counted atomically before comparing, single use by one conditional write,
and a code that could not be delivered made unusable at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.delivery import (
    DEFAULT_LANGUAGE,
    SMS,
    MessageDelivery,
    OutgoingMessage,
    SentMessage,
    SmsOnlyDelivery,
)
from twostep.domain.errors import (
    ChallengeExhausted,
    ChallengeExpired,
    ChallengeNotFound,
    ChallengeUsed,
    ChannelNotConfigured,
    CodeBound,
    EmailDeliveryError,
    SmsDeliveryError,
    WrongCode,
)
from twostep.domain.identity import E164, phone_country
from twostep.domain.metrics import NO_METRICS, CodeStage, Metrics
from twostep.domain.models import NO_CONTEXT, AuditEvent, Challenge, ChallengePurpose, RequestContext
from twostep.domain.otp import CodeHasher, generate_code, is_bound, normalise_submitted_code
from twostep.domain.ports import ChallengeStore, EmailSender, SmsSender
from twostep.domain.receipts import Delivery, SentRecorder
from twostep.domain.segments import count_segments
from twostep.domain.texts import TextKind
from twostep.services.audit import AuditService
from twostep.services.channel_texts import (
    DEFAULT_CALL_UNITS,
    DEFAULT_VOICE_TEMPLATE,
    budget_units,
    code_message,
)
from twostep.services.counting import Alongside
from twostep.services.limits import LimitsService
from twostep.services.test_numbers import NO_TEST_NUMBERS, FixedCodeNumbers
from twostep.services.texts import CodeTexts, TextChoice
from twostep.texts import bundled_catalogue

# The `provider` a test number's code "went" by in the audit trail: nothing was sent.
TEST_NUMBER_PROVIDER = "none"


def _account_of(purpose: ChallengePurpose, subject: str) -> str | None:
    """The account a text is sent for (its daily cap): every purpose but a verification's auth_id."""
    return subject or None if purpose != "verify" else None


# A replaced (resent), emailed or verification code is stored with this expiry (long past) until its
# message went out, then armed: until then no attempt counts and no check succeeds, and a request that
# fails before arming leaves nothing usable. (Other new texted codes are stored only once sent: `issue`.)
UNDELIVERED = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """What a new code looks like and says."""

    length: int
    ttl_seconds: int
    max_attempts: int
    template: str
    channel: str = SMS  # what the code goes by: `sms`, `voice`, `whatsapp` (the registry's names)
    language: str = DEFAULT_LANGUAGE  # how a voice call speaks it
    voice_template: str = DEFAULT_VOICE_TEMPLATE
    binding: str = ""  # bound into the code's HMAC (a transaction's canonical encoding); "" binds nothing
    # The bundled text this code uses (services/texts.py), in the reader's language: it replaces
    # `template`, `voice_template` and `language`. None: `template` is the operator's own, sent as it is.
    text: TextKind | None = None
    preferred_locale: str | None = None  # the account's stored language, a step of the locale chain
    # The bundled language the chain chose (set with `text`'s texts); kept on the delivery record, so a
    # fallback after a failed text uses the same one. None: not localised (a service without texts).
    text_language: str | None = None
    amount: str | None = None  # with `payee`: a transaction code's details, filled into its text
    payee: str | None = None


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
        self._texts = texts
        self._call_units = call_units  # a call's share of the money budget, in SMS segments
        # Emails and notices are always the bundled texts (no operator template replaces them); a
        # service built without texts writes them in English.
        self._letters = texts or CodeTexts(bundled_catalogue(), org=org_name, default_locale=DEFAULT_LANGUAGE)
        self._store, self._sender, self._hasher = store, sender, hasher
        self._test_numbers = test_numbers
        self._delivery = delivery or SmsOnlyDelivery(sender)
        self._receipts = receipts  # told of each message sent, to match its delivery receipts
        self._email_sender = email_sender
        self._limits, self._audit, self._clock = limits, audit, clock
        self._org, self._web_origin = org_name, web_origin
        self._metrics = metrics

    def _count(self, stage: CodeStage, purpose: str, phone: str | None) -> None:
        """One step of the code funnel; emailed codes count under provider "email"."""
        country = (phone_country(phone) or "unknown") if phone else "none"
        provider = self._sender.name if phone else "email"
        self._metrics.code_event(stage, purpose=purpose, country=country, provider=provider)

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
    ) -> Challenge:
        """Create a challenge and text its code; raises what `LimitsService.reserve_sms` or delivery raise.

        `attempts` carries over attempts already made (a verification re-created for a new number).
        `alongside`: counter changes the caller owes, taken with the SMS's (`reserve_sms`).
        The code goes by `spec.channel`; ChannelNotConfigured is raised before anything is stored.
        """
        self.ensure_channel(spec.channel)
        self._count("requested", purpose, phone)
        spec = self._localised(spec, phone, ctx)
        code = self._test_numbers.code_for(phone) or generate_code(spec.length)
        message = self._message(phone, spec, code)
        account = _account_of(purpose, subject)
        self._limits.reserve_sms(
            phone, ctx, segments=self._units(message), account=account, alongside=alongside
        )
        now = self._clock.now()
        challenge = Challenge(
            id=challenge_id,
            purpose=purpose,
            subject=subject,
            phone=phone,
            code_hmac=self._hasher.digest(challenge_id, code, spec.binding),
            created_at=now,
            expires_at=now + timedelta(seconds=spec.ttl_seconds),
            max_attempts=spec.max_attempts,
            attempts=attempts,
            last_sent_at=now,
            code_length=len(code),
            channel=spec.channel,
        )
        if purpose == "verify":
            return self._issue_named(
                challenge, message, ctx, bound=bool(spec.binding), language=spec.text_language
            )
        # Stored only once its message went out, usable at once, with its delivery record and `code_sent`
        # event: one write instead of four (store unusable, record, arm, audit). A failed delivery or
        # write leaves nothing usable behind; an id no request can know yet has nothing to race with.
        sent = self._deliver(challenge, message, ctx)
        event = self._sent_event(challenge, sent, ctx)
        record = self._sent_record(challenge, sent, bound=bool(spec.binding), language=spec.text_language)
        self._store.store_sent_challenge(challenge, (event,), record)
        self._audit.logged(event)
        return challenge

    def issue_email(
        self,
        *,
        challenge_id: str,
        purpose: ChallengePurpose,
        subject: str,
        email: str,
        spec: CodeSpec,
        ctx: RequestContext = NO_CONTEXT,
        phone: E164 | None = None,
    ) -> Challenge:
        """Create a challenge and email its code; the same rules as a texted code (HMAC at rest, expiry,
        attempts, single use), with the per-address caps of `LimitsService.reserve_email`. The email is
        in the reader's language: the locale chain with `spec.preferred_locale` and the country of the
        account's `phone`.

        Raises:
            RateLimited, EmailDeliveryError.
        """
        self._count("requested", purpose, None)
        self._limits.reserve_email(email, ctx)
        now = self._clock.now()
        code = generate_code(spec.length)
        challenge = Challenge(
            id=challenge_id,
            purpose=purpose,
            subject=subject,
            phone=E164(""),
            code_hmac=self._hasher.digest(challenge_id, code),
            created_at=now,
            expires_at=now + timedelta(seconds=spec.ttl_seconds),
            max_attempts=spec.max_attempts,
            last_sent_at=now,
            code_length=spec.length,
            email=email,
            channel="email",
        )
        self._store.put_challenge(replace(challenge, expires_at=UNDELIVERED))
        language = self._letters.language_for(TextChoice(ctx.locales, spec.preferred_locale, phone))
        letter = self._letters.email_code(
            language, code=code, ttl_seconds=spec.ttl_seconds, reset=purpose == "reset"
        )
        try:
            self.send_email(email, letter.subject, letter.body)
        except EmailDeliveryError as exc:
            self._count("undelivered", purpose, None)
            self._audit.record(
                "code_delivery_failed", ctx=ctx, user_id=subject, reason=exc.reason, purpose=purpose
            )
            raise
        sent = self._audit.entry("code_sent", ctx=ctx, user_id=subject, purpose=purpose, channel="email")
        armed = self._arm(challenge, sent)
        self._count("sent", purpose, None)
        return armed

    def send_email(self, to: str, subject: str, body: str) -> None:
        """Raises: EmailDeliveryError (also when no email provider is configured)."""
        if self._email_sender is None:
            raise EmailDeliveryError("not_configured")
        self._email_sender.send(to, subject, body)

    @property
    def letters(self) -> CodeTexts:
        """The texts of emails and account notices, in every bundled language."""
        return self._letters

    def send_notice_sms(self, to: E164, body: str, account: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """A notice (no code) by SMS, admitted like any text against the fraud guard and the budgets.

        Raises:
            DestinationNotAllowed, DestinationBlocked, RateLimited, SmsBudgetExhausted: not admitted.
            SmsDeliveryError: admitted, not delivered.
        """
        self._limits.reserve_notice(to, account, ctx, segments=count_segments(body).count)
        self._sender.send(to, body)

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
        self._ensure_replaceable(challenge, self._clock.now())
        if is_bound(challenge.code_hmac) and not spec.binding:
            raise CodeBound()  # e.g. an automatic fallback: it cannot know the transaction
        self._count("requested", challenge.purpose, challenge.phone)
        spec = self._localised(spec, challenge.phone, ctx)
        code = self._test_numbers.code_for(challenge.phone) or generate_code(challenge.code_length)
        message = self._message(challenge.phone, spec, code)
        account = _account_of(challenge.purpose, challenge.subject)
        self._limits.reserve_sms(
            challenge.phone, ctx, segments=self._units(message), account=account, cooldown=cooldown
        )
        now = self._clock.now()
        replaced = self._store.replace_code(
            challenge.id,
            self._hasher.digest(challenge.id, code, spec.binding),
            UNDELIVERED,
            now,
            spec.channel,
        )
        if replaced is None:
            raise ChallengeUsed()
        replaced = replace(replaced, expires_at=now + timedelta(seconds=spec.ttl_seconds))
        sent = self._deliver(replaced, message, ctx)
        self._record_sent(replaced, sent, bound=bool(spec.binding), language=spec.text_language)
        return self._arm(replaced, self._sent_event(replaced, sent, ctx))

    def _issue_named(
        self,
        challenge: Challenge,
        message: OutgoingMessage,
        ctx: RequestContext,
        *,
        bound: bool,
        language: str | None,
    ) -> Challenge:
        """`issue` for an id the caller names (a verification's auth_id), which it may check after a
        failed create: stored unusable first, so that check answers "expired" (the ExpiredAuthCode of
        Flowroute's sms-verification), then armed once its message went out."""
        self._store.put_challenge(replace(challenge, expires_at=UNDELIVERED))
        sent = self._deliver(challenge, message, ctx)
        self._record_sent(challenge, sent, bound=bound, language=language)
        return self._arm(challenge, self._sent_event(challenge, sent, ctx))

    def _record_sent(
        self, challenge: Challenge, sent: SentMessage, *, bound: bool, language: str | None
    ) -> None:
        """The delivery record, stored before the arm so a receipt of the message finds it at once."""
        if self._receipts is not None and self._test_numbers.code_for(challenge.phone) is None:
            self._receipts.record_sent(challenge.id, sent, bound=bound, language=language)

    def _arm(self, challenge: Challenge, sent: AuditEvent) -> Challenge:
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

    def _sent_event(self, challenge: Challenge, sent: SentMessage, ctx: RequestContext) -> AuditEvent:
        """The `code_sent` event of a delivered code (and the channel and provider it went by)."""
        who = {"auth_id" if challenge.purpose == "verify" else "user_id": challenge.subject}
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

    def check(
        self,
        challenge_id: str,
        raw_code: object,
        purpose: ChallengePurpose,
        ctx: RequestContext = NO_CONTEXT,
        read: Challenge | None = None,
        binding: str = "",
        count_verified: bool = True,
    ) -> Challenge:
        """Consume the challenge if `raw_code` is its code; `read` saves a read the caller already did
        (only to check purpose and shape: the attempt gate and single use are decided by storage).
        `binding` must be what the code was bound to (`CodeSpec.binding`), or the code does not match.
        `count_verified=False`: the caller counts the used code for the fraud guard itself (a sign-in
        does it in the same storage request as the account's reset, `LimitsService.code_succeeded`).

        Raises:
            ChallengeNotFound, ChallengeExpired, ChallengeUsed, ChallengeExhausted, WrongCode, InvalidInput.
        """
        challenge = (
            read if read is not None and read.id == challenge_id else self._store.get_challenge(challenge_id)
        )
        if challenge is None or challenge.purpose != purpose:
            raise ChallengeNotFound()
        code = normalise_submitted_code(raw_code, challenge.code_length)
        now = self._clock.now()
        try:
            self._ensure_usable(challenge, now)
        except ChallengeExpired:
            self._count("expired", purpose, challenge.phone)
            raise
        # Matched against the code read above, so one write counts the attempt and, for the right code
        # still stored, consumes the challenge; a code replaced since the read is matched again below.
        right = self._hasher.matches(challenge_id, code, challenge.code_hmac, binding)
        counted = self._store.attempt_challenge(challenge_id, now, challenge.code_hmac if right else None)
        if counted is None:
            self._ensure_usable(self._store.get_challenge(challenge_id), now)
            raise ChallengeExhausted()
        if counted.consumed_at is None:
            if counted.code_hmac == challenge.code_hmac or not self._hasher.matches(
                challenge_id, code, counted.code_hmac, binding
            ):
                self._count("failed", purpose, challenge.phone)
                raise WrongCode(counted.attempts_remaining)
            if not self._store.consume_challenge(challenge_id, now):
                raise ChallengeUsed()
        self._count("verified", purpose, challenge.phone)
        if counted.phone and count_verified:  # a texted code (not an emailed one) was used: a person
            self._limits.sms.record_verified(counted.phone)
        return counted

    def matches_read(self, challenge: Challenge, raw_code: object, binding: str = "") -> bool:
        """Whether `raw_code` is the code of `challenge` as the caller read it: no storage request, no
        attempt counted (`check` decides; the stored code may have been replaced since the read).

        Raises: InvalidInput (not a code of the challenge's length).
        """
        code = normalise_submitted_code(raw_code, challenge.code_length)
        return bool(challenge.code_hmac) and self._hasher.matches(
            challenge.id, code, challenge.code_hmac, binding
        )

    def check_with(self, challenge: Challenge, matches: Callable[[Challenge], bool]) -> Challenge:
        """The gate of `check` for a factor other than the texted code (an authenticator app, a
        recovery code, a passkey): count an attempt, then ask `matches` (after the count, so every
        guess costs one), then consume. No SMS metrics or fraud-guard signal: nothing was texted.

        Raises:
            ChallengeNotFound, ChallengeExpired, ChallengeUsed, ChallengeExhausted, WrongCode.
        """
        now = self._clock.now()
        self._ensure_usable(challenge, now)
        counted = self._store.count_attempt(challenge.id, now)
        if counted is None:
            self._ensure_usable(self._store.get_challenge(challenge.id), now)
            raise ChallengeExhausted()
        if not matches(counted):
            raise WrongCode(counted.attempts_remaining)
        if not self._store.consume_challenge(challenge.id, now):
            raise ChallengeUsed()
        return counted

    def open_unsent(
        self, *, challenge_id: str, subject: str, phone: E164, spec: CodeSpec, ttl_seconds: int
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
        )
        self._store.put_challenge(challenge)
        return challenge

    def purpose_of(self, challenge_id: str) -> ChallengePurpose | None:
        """What a challenge is for (None: no such challenge)."""
        challenge = self._store.get_challenge(challenge_id)
        return None if challenge is None else challenge.purpose

    def check_owned(
        self,
        challenge_id: str,
        raw_code: object,
        purpose: ChallengePurpose,
        subject: str,
        ctx: RequestContext,
        budget_key: str | None = None,
    ) -> Challenge:
        """`check` for an account's own code (reset, changes): the challenge must be `subject`'s, and the
        account's wrong-code budget (the login one; `budget_key` names another) counts every comparison.

        Raises:
            ChallengeNotFound, ChallengeGone (410 family), WrongCode, RateLimited, InvalidInput.
        """
        challenge = self._store.get_challenge(challenge_id)
        if challenge is None or challenge.purpose != purpose or challenge.subject != subject:
            raise ChallengeNotFound()
        budget = budget_key or subject
        count = self._limits.begin_code_attempt(budget, ctx)
        try:
            checked = self.check(challenge_id, raw_code, purpose, ctx, read=challenge)
        except WrongCode:
            self._audit.record("code_failed", ctx=ctx, user_id=subject or None, purpose=purpose)
            self._limits.code_attempt_failed(budget, count, ctx)
            raise
        except Exception:
            self._limits.code_attempt_void(budget)
            raise
        self._limits.reset_code_failures(budget)
        return checked

    @staticmethod
    def _ensure_usable(challenge: Challenge | None, now: datetime) -> None:
        if challenge is None:
            raise ChallengeNotFound()
        if challenge.consumed_at is not None:
            raise ChallengeUsed()
        if challenge.expires_at <= now:
            raise ChallengeExpired()
        if challenge.attempts >= challenge.max_attempts:
            raise ChallengeExhausted()

    @staticmethod
    def _ensure_replaceable(challenge: Challenge, now: datetime) -> None:
        # An expired challenge is over: a resend must not revive it (the caller signs in again).
        if challenge.consumed_at is not None:
            raise ChallengeUsed()
        if challenge.expires_at <= now:
            raise ChallengeExpired()
        if challenge.attempts >= challenge.max_attempts:
            raise ChallengeExhausted()

    def wants_preference(self, ctx: RequestContext) -> bool:
        """Whether the account's stored language could matter (the request names no bundled language)."""
        return self._texts is not None and self._texts.needs_preference(ctx.locales)

    def _localised(self, spec: CodeSpec, phone: E164, ctx: RequestContext) -> CodeSpec:
        """The spec with its texts in the reader's language (see services/texts.py)."""
        if self._texts is None:
            return spec
        choice = TextChoice(ctx.locales, spec.preferred_locale, phone)
        texts = self._texts.localise(spec.text, spec.template, choice, amount=spec.amount, payee=spec.payee)
        return replace(
            spec,
            template=texts.template,
            voice_template=texts.voice_template,
            language=texts.voice_language,
            text_language=texts.language,
        )

    def _units(self, message: OutgoingMessage) -> int:
        return budget_units(message, self._call_units)

    def _message(self, phone: E164, spec: CodeSpec, code: str) -> OutgoingMessage:
        return code_message(
            to=phone,
            code=code,
            channel=spec.channel,
            sms_template=spec.template,
            voice_template=spec.voice_template,
            language=spec.language,
            org=self._org,
            ttl_seconds=spec.ttl_seconds,
            web_origin=self._web_origin,
            app_hash=self._texts.app_hash if self._texts is not None else None,
        )

    def _deliver(self, challenge: Challenge, message: OutgoingMessage, ctx: RequestContext) -> SentMessage:
        # A login's subject is a user id; a verification's is the caller's auth_id, kept as detail.
        who = (
            {"user_id": challenge.subject}
            if challenge.purpose != "verify"
            else {"auth_id": challenge.subject}
        )
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

    def _sent_record(
        self, challenge: Challenge, sent: SentMessage, *, bound: bool, language: str | None
    ) -> Delivery | None:
        """The delivery record of a message a provider took, for its receipts (None: nothing to keep:
        no receipts here, a test number's code that was never sent, or an id no receipt can name).
        `bound`: a transaction's code, which only its own text may carry (no fallback re-sends it)."""
        if self._receipts is None or self._test_numbers.code_for(challenge.phone) is not None:
            return None
        return self._receipts.sent_record(challenge.id, sent, bound=bound, language=language)
