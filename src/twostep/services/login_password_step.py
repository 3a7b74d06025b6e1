"""A sign-in's first step: `start` checks the password and texts a code (or, when the account has an
authenticator app, expects its code and texts nothing); `resend` texts a fresh code for the same login
(also the SMS fallback). A remembered device skips the second step."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from twostep.domain.delivery import SMS
from twostep.domain.errors import (
    DestinationBlocked,
    DestinationNotAllowed,
    InvalidCredentials,
    RateLimited,
    SecondFactorRequired,
    SmsBudgetExhausted,
    SmsDeliveryError,
)
from twostep.domain.factor_errors import FactorUnavailable
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.factors import Factor
from twostep.domain.identity import E164, mask_phone, sign_in_email
from twostep.domain.ids import new_uuid4
from twostep.domain.models import NO_CONTEXT, RequestContext, User
from twostep.domain.password_spelling import Verified
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.counting import Alongside
from twostep.services.devices import DeviceService
from twostep.services.limits import LimitsService
from twostep.services.second_factor import SecondFactorService
from twostep.services.tokens import TokenPair, TokenService
from twostep.services.unchanged_credentials import current_login, refuse_changed

logger = logging.getLogger("twostep.login")

REMEMBERED_DEVICE_AMR = ("pwd", "device")
# An authenticator app or a passkey takes longer to reach than a text message.
UNSENT_CHALLENGE_TTL_SECONDS = 300
# Why a login's text could not go out: the sending failed (every provider, or the service's money budget
# for texts), or a limit on this number or account (its caps, the cooldown, the fraud guard, the country
# rules) refused it for now.
SmsUnavailable = Literal["failed", "limited"]
# What keeps a login's text from going out that another factor can get past. Not the account's lock
# (AccountLocked) nor its spent wrong-code budget (RateLimited `second_factor_locked`): those hold every
# factor. Not StorageUnavailable: nothing can be stored either, so the sign-in fails closed.
SMS_REFUSALS = (SmsDeliveryError, SmsBudgetExhausted, RateLimited, DestinationBlocked, DestinationNotAllowed)
SmsRefusal = SmsDeliveryError | SmsBudgetExhausted | RateLimited | DestinationBlocked | DestinationNotAllowed
# The factors a sign-in can finish with when no text can go out, the one asked for first first.
WITHOUT_A_TEXT: tuple[Factor, ...] = ("recovery", "passkey")
WRONG_CODES_LIMIT = "second_factor_locked"


@dataclass(frozen=True, slots=True)
class LoginStarted:
    otp_id: str
    expires_at: datetime
    destination: str
    resend_after: datetime
    factors: tuple[Factor, ...] = ("sms",)
    expected: Factor = "sms"
    sms_unavailable: SmsUnavailable | None = None  # set when the expected text could not go out


@dataclass(frozen=True, slots=True)
class CodeResent:
    expires_at: datetime
    resend_after: datetime


def _unavailable(refused: SmsRefusal) -> SmsUnavailable:
    """`failed`: the service could not send (its providers, or its money budget for texts); `limited`:
    a limit of this number or account refused a text for now."""
    return "failed" if isinstance(refused, SmsDeliveryError | SmsBudgetExhausted) else "limited"


class PasswordStep:
    def __init__(
        self,
        *,
        users: UserStore,
        challenges: ChallengeStore,
        codes: ChallengeService,
        tokens: TokenService,
        hasher: PasswordHasher,
        limits: LimitsService,
        audit: AuditService,
        code_spec: CodeSpec,
        require_second_factor: bool,
        factors: SecondFactorService | None = None,
        devices: DeviceService | None = None,
    ) -> None:
        self._users, self._challenges, self._codes, self._tokens = users, challenges, codes, tokens
        self._hasher, self._limits, self._audit = hasher, limits, audit
        self._spec = code_spec
        self._require_second_factor = require_second_factor
        self._factors, self._devices = factors, devices

    def confirm_replay(self, email: str, password: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Check `password` for the replay of a sign-in that this password already passed (an
        `Idempotency-Key` repeat): counted and limited as a sign-in's check is, so a stored answer is no
        way around the login limits (no unlimited Argon2 work, no guessing past them); nothing is sent.

        Raises: InvalidCredentials (counted like a sign-in's), RateLimited, AccountLocked.
        """
        email = sign_in_email(email)
        attempt, (user, _) = self._limits.begin_login_finding_user(email, ctx, self._users)
        if not self._hasher.verify(user.password_hash if user else None, password) or user is None:
            self._audit.record("login_failed", ctx=ctx, email=email, user_id=user.id if user else None)
            raise InvalidCredentials()
        self._limits.check_code_failures(user.id, self._limits.login_succeeded(attempt, user.id), ctx)

    def start(
        self, email: str, password: str, ctx: RequestContext = NO_CONTEXT, device_token: str | None = None
    ) -> LoginStarted | TokenPair:
        """`device_token` from an earlier "remember this device" skips the second factor. When the code's
        text cannot go out and the account has recovery codes or a passkey, that factor is expected instead
        (`LoginStarted.sms_unavailable`; `_without_text`).

        Raises: InvalidCredentials, AccountLocked, RateLimited, SecondFactorRequired, SmsDeliveryError,
            SmsBudgetExhausted, DestinationBlocked, DestinationNotAllowed (those: only where no other
            factor can finish the sign-in),
            CredentialsChanged (the password changed while it was checked: without a second step, or
            where the password is rehashed).
        """
        email = sign_in_email(email)
        # The attempt counted, and the account and (where one storage request can) its enrolled
        # factors read, in the one storage request where the backend can (PostgreSQL).
        attempt, (user, enrolled) = self._limits.begin_login_finding_user(email, ctx, self._users)
        # An unknown email costs the same Argon2 work and the same counter writes as a known one, and
        # answers the same: no timing or response oracle for who has an account.
        verified = self._hasher.check(user.password_hash if user else None, password)
        if verified is Verified.NO or user is None:
            self._audit.record("login_failed", ctx=ctx, email=email, user_id=user.id if user else None)
            raise InvalidCredentials()
        # A hash of the spelling before NFKC, or one without the NFKC mark, is replaced too: else every
        # check of it (a wrong guess's too) costs two Argon2 runs where the password has a full-width letter.
        rehash = verified is not Verified.YES or self._hasher.needs_rehash(user.password_hash)
        factors: tuple[Factor, ...] | None = None
        if device_token is None and not rehash:
            factors = self._available(user, enrolled)
            if user.phone is not None and (SecondFactorService.preferred(factors) or factors[0]) == "sms":
                # The password's counts settled, the lock and the wrong-code count checked, in the
                # storage request that takes the code's SMS limits (each on its own where one refuses).
                owed = self._limits.settle_with_code(attempt, user.id, ctx)
                try:
                    return self._challenge(user, factors, "sms", ctx, owed)
                except SMS_REFUSALS as refused:  # only off the usual path: nothing more runs on it
                    return self._without_text(user, factors, refused, owed, ctx)
                finally:
                    owed.settle()  # a no-op once settled; else the code failed before its SMS was asked
        # The password's counts settled, the lock checked and the wrong-code count (checked below,
        # before a code goes out or a device skips it) read, in one storage request.
        code_failures = self._limits.login_succeeded(attempt, user.id)
        if rehash:
            # Its sign-in's tag is the new hash's. Raises CredentialsChanged: changed since its check.
            new_hash = self._hasher.replacement(user.password_hash, password, verified)
            user = self._store_rehash(user, new_hash, ctx)
        # A spent wrong-code budget holds every sign-in with the password, a remembered device's too: the
        # device skips the code, not the lock on guessing it (docs/abuse-protection.md).
        self._limits.check_code_failures(user.id, code_failures, ctx)
        if self._devices is not None and self._devices.recognises(device_token, user.id):
            # The second factor is possession of this device's token, set by an earlier sign-in with
            # two factors. RFC 8176 registers no value for it; `device` says it without colliding.
            return self._signed_in(user, REMEMBERED_DEVICE_AMR, ctx)
        if factors is None:
            factors = self._available(user, enrolled)
        if not factors:
            if self._require_second_factor:
                self._audit.record("login_failed", ctx=ctx, user_id=user.id, reason="no_phone")
                raise SecondFactorRequired()
            return self._signed_in(user, ("pwd",), ctx)
        expected = SecondFactorService.preferred(factors) or factors[0]
        try:
            return self._challenge(user, factors, expected, ctx)
        except SMS_REFUSALS as refused:  # the counts, the lock and the wrong codes were settled above
            return self._without_text(user, factors, refused, None, ctx)

    def _signed_in(self, user: User, amr: tuple[str, ...], ctx: RequestContext) -> TokenPair:
        """A session without a second step, its event stored with it: a password change committed
        since the password was checked refuses it (CredentialsChanged) instead of missing it."""
        event = self._audit.entry("login_succeeded", ctx=ctx, user_id=user.id, factors=",".join(amr))
        pair = self._tokens.issue_pair(user, amr, ctx, audits=[event])
        self._audit.logged(event)
        return pair

    def _store_rehash(self, user: User, new_hash: str, ctx: RequestContext) -> User:
        """`user` with `new_hash` stored over the hash its check read.

        Marking an old hash makes the same string at every sign-in: where another right sign-in stored it
        first (two tabs, a client's retry), the account is as this one would leave it, so it goes on
        rather than answering 410. Read only when the write refused (rare, off the usual sign-in).

        Raises: CredentialsChanged (audited as a failed login): the account changed otherwise."""
        if self._users.set_password_hash(user, new_hash):
            return replace(user, password_hash=new_hash)
        current = self._users.get_user(user.id)
        if current is not None and current.credentials == replace(user, password_hash=new_hash).credentials:
            return current
        refuse_changed(user, self._audit, ctx, event="login_failed")

    def _available(self, user: User, enrolled: EnrolledFactors | None) -> tuple[Factor, ...]:
        if self._factors is None:
            return ("sms",) if user.phone else ()
        return self._factors.available(user, enrolled)

    def _challenge(
        self,
        user: User,
        factors: tuple[Factor, ...],
        expected: Factor,
        ctx: RequestContext,
        owed: Alongside | None = None,
    ) -> LoginStarted:
        if expected == "sms" and user.phone is not None:
            challenge = self._codes.issue(
                challenge_id=new_uuid4(),
                purpose="login",
                subject=user.id,
                phone=user.phone,
                spec=self._spec_in(user.locale),
                ctx=ctx,
                alongside=owed,
                credentials_tag=user.credentials_tag,
            )
            resend_after = self._codes.resend_after(challenge)
        else:  # no text message: the authenticator app (or a passkey) is expected first
            challenge = self._codes.open_unsent(
                challenge_id=new_uuid4(),
                subject=user.id,
                phone=user.phone or E164(""),  # no phone: no SMS fallback
                spec=self._spec,
                ttl_seconds=max(self._spec.ttl_seconds, UNSENT_CHALLENGE_TTL_SECONDS),
                credentials_tag=user.credentials_tag,
            )
            resend_after = challenge.created_at
        return LoginStarted(
            otp_id=challenge.id,
            expires_at=challenge.expires_at,
            destination=mask_phone(user.phone) if user.phone else "",
            resend_after=resend_after,
            factors=factors,
            expected=expected,
        )

    def _without_text(
        self,
        user: User,
        factors: tuple[Factor, ...],
        refused: SmsRefusal,
        owed: Alongside | None,
        ctx: RequestContext,
    ) -> LoginStarted:
        """The login's text could not go out (`refused`): where the account has another factor it can
        finish with, a challenge without a code that expects it (its SMS can still be asked for by
        `resend` or `/send` once texts go out again); else `refused` is raised, as before.

        A Twilio outage, or a stranger pumping the number to its caps, would otherwise lock out exactly
        the accounts that made recovery codes or a passkey for that case.

        `owed`: the password's counts, when they were owed to the SMS's admission (None: settled before).

        Raises: `refused` (no other factor, or it is the wrong-code budget's refusal); AccountLocked or
            RateLimited("second_factor_locked") from settling the password's counts.
        """
        expected = next((factor for factor in WITHOUT_A_TEXT if factor in factors), None)
        if expected is None or (isinstance(refused, RateLimited) and refused.limit == WRONG_CODES_LIMIT):
            raise refused
        if owed is not None:
            # The password's counts, the lock and the wrong-code budget were settled before the SMS was
            # asked (`reserve_sms`); this settles them where a refusal ever came first (a no-op otherwise).
            owed.settle()
        started = self._challenge(user, factors, expected, ctx)
        reason = self._note_not_sent(user, refused, expected, ctx)
        # The SMS can be asked for again once what refused it lifts, not before (a failed send: at once).
        wait = 0 if isinstance(refused, SmsDeliveryError | DestinationNotAllowed) else refused.retry_after
        return replace(
            started, resend_after=started.resend_after + timedelta(seconds=wait), sms_unavailable=reason
        )

    def _note_not_sent(
        self, user: User, refused: SmsRefusal, offered: Factor, ctx: RequestContext
    ) -> SmsUnavailable:
        """Audit the sign-in that went on without its text (`login_code_not_sent`), log a spent money
        budget as the 503 it answered before was (a failed send logged itself: `sms not sent`), and say
        why in general terms."""
        reason = _unavailable(refused)
        cause = refused.limit if isinstance(refused, RateLimited) else refused.code
        self._audit.record(
            "login_code_not_sent",
            ctx=ctx,
            user_id=user.id,
            phone=user.phone,
            reason=reason,
            cause=cause,
            offered=offered,
        )
        if isinstance(refused, SmsBudgetExhausted):
            logger.warning(
                "dependency unavailable", extra={"code": cause, "cause": f"{refused.budget} spent"}
            )
        return reason

    def _spec_in(self, preferred_locale: str | None) -> CodeSpec:
        """The login code spec with the account's stored language (no copy when it is the spec's)."""
        if preferred_locale == self._spec.preferred_locale:
            return self._spec
        return replace(self._spec, preferred_locale=preferred_locale)

    def _spec_for(self, account: User | None, ctx: RequestContext, channel: str) -> CodeSpec:
        """The code spec for `channel` with the account's stored language when the request names none."""
        spec = self._spec if channel == SMS else replace(self._spec, channel=channel)
        if not self._codes.wants_preference(ctx):
            return spec
        return replace(spec, preferred_locale=account.locale if account else None)

    def resend(self, otp_id: str, ctx: RequestContext = NO_CONTEXT, channel: str = SMS) -> CodeResent:
        """A new code by `channel` (`sms`, or `voice` / `whatsapp` where configured).

        Raises: ChannelNotConfigured, ChallengeNotFound, ChallengeGone (CredentialsChanged: no code goes to a
        number the account no longer has), FactorUnavailable (the account has no number), AccountLocked,
        RateLimited, SmsDeliveryError.
        """
        self._codes.ensure_channel(channel)
        challenge, account = current_login(self._challenges, otp_id, self._audit, ctx)
        if not challenge.phone:  # opened for an app or a passkey of an account without a number
            raise FactorUnavailable("This account has no phone number to send a code to.")
        # A locked account (an administrator's lock or its wrong codes) gets no more codes: they could not
        # be used, and each one costs money.
        self._limits.check_second_factor_allowed(challenge.subject, ctx)
        replaced = self._codes.replace(challenge, self._spec_for(account, ctx, channel), ctx)
        return CodeResent(expires_at=replaced.expires_at, resend_after=self._codes.resend_after(replaced))
