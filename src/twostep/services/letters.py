"""Emails and account notices: an emailed code (`issue_email`, with the same rules as a texted one), a
notice by email or by SMS. They are always the bundled texts (`texts`), never an operator's template."""

from __future__ import annotations

from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.errors import EmailDeliveryError
from twostep.domain.identity import E164
from twostep.domain.models import NO_CONTEXT, Challenge, ChallengePurpose, RequestContext
from twostep.domain.otp import CodeHasher, generate_code
from twostep.domain.ports import ChallengeStore, EmailSender, SmsSender
from twostep.domain.segments import count_segments
from twostep.services.audit import AuditService
from twostep.services.code_funnel import CodeFunnel
from twostep.services.code_spec import CodeSpec
from twostep.services.limits import LimitsService
from twostep.services.texts import CodeTexts, TextChoice


class Letters:
    def __init__(
        self,
        *,
        store: ChallengeStore,
        sender: SmsSender,
        email_sender: EmailSender | None,
        hasher: CodeHasher,
        limits: LimitsService,
        audit: AuditService,
        clock: Clock,
        funnel: CodeFunnel,
        texts: CodeTexts,
    ) -> None:
        self._store, self._sender, self._email_sender, self._hasher = store, sender, email_sender, hasher
        self._limits, self._audit, self._clock = limits, audit, clock
        self._count = funnel.count
        self.texts = texts  # the texts of emails and account notices, in every bundled language

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
        credentials_tag: str | None = None,
        ends_at: datetime | None = None,
    ) -> Challenge:
        """Create a challenge and email its code; the same rules as a texted code (HMAC at rest, expiry,
        attempts, single use), with the per-address caps of `LimitsService.reserve_email`. The email is
        in the reader's language: the locale chain with `spec.preferred_locale` and the country of the
        account's `phone`.

        Stored only once the email went out, with its `code_sent` event in one write, as a texted code
        (`CodeIssuing.issue`): a failed delivery or write leaves nothing usable behind, and a challenge
        of `challenge_id` stored before (the placeholder of a reset or an address claim, whose id the
        caller already has) stays as it is until then. Stored unusable first, a reset's or a claim's code
        answered 410 while its email was on its way (or for good once it failed) where the placeholder of
        an address with no account, or a proven one, answers 401: it told who has an account.

        `ends_at`: the end the placeholder already answered (None: the TTL's), as `CodeIssuing.issue`.

        Raises:
            RateLimited, EmailDeliveryError.
        """
        self._count("requested", purpose, None)
        self._limits.reserve_email(email, ctx, account=subject)
        now = self._clock.now()
        code = generate_code(spec.length)
        challenge = Challenge(
            id=challenge_id,
            purpose=purpose,
            subject=subject,
            phone=E164(""),
            code_hmac=self._hasher.digest(challenge_id, code),
            created_at=now,
            expires_at=ends_at or now + timedelta(seconds=spec.ttl_seconds),
            max_attempts=spec.max_attempts,
            last_sent_at=now,
            code_length=spec.length,
            email=email,
            channel="email",
            credentials_tag=credentials_tag,
        )
        language = self.texts.language_for(TextChoice(ctx.locales, spec.preferred_locale, phone))
        letter = self.texts.email_code(
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
        self._store.store_sent_challenge(challenge, (sent,))
        self._audit.logged(sent)
        self._count("sent", purpose, None)
        return challenge

    def send_email(self, to: str, subject: str, body: str) -> None:
        """Raises: EmailDeliveryError (also when no email provider is configured)."""
        if self._email_sender is None:
            raise EmailDeliveryError("not_configured")
        self._email_sender.send(to, subject, body)

    def send_notice_sms(self, to: E164, body: str, account: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """A notice (no code) by SMS, admitted like any text against the fraud guard and the budgets.

        Raises:
            DestinationNotAllowed, DestinationBlocked, RateLimited, SmsBudgetExhausted: not admitted.
            SmsDeliveryError: admitted, not delivered.
        """
        self._limits.reserve_notice(to, account, ctx, segments=count_segments(body).count)
        self._sender.send(to, body)
