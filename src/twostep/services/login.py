"""Password sign-in, then a second factor: `start` checks the password and texts a code (or, when the
account has an authenticator app, expects its code and texts nothing), `complete` trades the code for
tokens, `resend` texts a fresh code for the same login (also the SMS fallback). A remembered device
skips the second step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from twostep.domain.clock import Clock
from twostep.domain.delivery import SMS
from twostep.domain.errors import (
    AccountLocked,
    ChallengeNotFound,
    InvalidCredentials,
    InvalidInput,
    SecondFactorRequired,
    TwoStepError,
    WrongCode,
)
from twostep.domain.factor_errors import FactorUnavailable
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.factors import Factor
from twostep.domain.identity import E164, mask_phone, normalise_email
from twostep.domain.ids import new_uuid4
from twostep.domain.models import NO_CONTEXT, Challenge, RequestContext, User
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.counting import Alongside
from twostep.services.devices import DeviceService
from twostep.services.limits import LimitsService
from twostep.services.second_factor import SecondFactorService
from twostep.services.tokens import TokenPair, TokenService

# RFC 8176 method references of the app factors; a recovery code is a one-time password too. (A texted
# code's reference follows its channel: CHANNEL_METHOD.)
AMR: dict[str, tuple[str, ...]] = {"totp": ("pwd", "otp"), "recovery": ("pwd", "otp")}
# A texted code's method by the channel it went by. RFC 8176 has `tel` for a telephone call. It has no
# WhatsApp value: a WhatsApp message is a text to the account's number (WhatsApp accounts are that
# number's, registered by a code texted to it, so they share its SIM-swap risk), so it says `sms` rather
# than claiming a different method relying parties might rank higher. Unknown channels say `sms` too.
CHANNEL_METHOD: dict[str, str] = {"sms": "sms", "voice": "tel", "whatsapp": "sms"}
REMEMBERED_DEVICE_AMR = ("pwd", "device")
# An authenticator app or a passkey takes longer to reach than a text message.
UNSENT_CHALLENGE_TTL_SECONDS = 300


@dataclass(frozen=True, slots=True)
class LoginStarted:
    otp_id: str
    expires_at: datetime
    destination: str
    resend_after: datetime
    factors: tuple[Factor, ...] = ("sms",)
    expected: Factor = "sms"


@dataclass(frozen=True, slots=True)
class SignedIn:
    pair: TokenPair
    user_id: str
    amr: tuple[str, ...]
    factor: str  # the second factor used: sms, totp, recovery or passkey


@dataclass(frozen=True, slots=True)
class CodeResent:
    expires_at: datetime
    resend_after: datetime


class LoginService:
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
        clock: Clock,
        code_spec: CodeSpec,
        require_second_factor: bool,
        factors: SecondFactorService | None = None,
        devices: DeviceService | None = None,
    ) -> None:
        self._users, self._challenges, self._codes, self._tokens = users, challenges, codes, tokens
        self._hasher, self._limits, self._audit, self._clock = hasher, limits, audit, clock
        self._spec = code_spec
        self._require_second_factor = require_second_factor
        self._factors, self._devices = factors, devices

    def password_matches(self, email: str, password: str) -> bool:
        """Whether `password` is the account's (its Argon2 hash; an unknown email costs the same work).
        Counts nothing: for confirming a replay of a sign-in that this password already passed."""
        try:
            email = normalise_email(email)
        except InvalidInput:
            email = email.strip().lower()
        user = self._users.find_user_by_email(email)
        return self._hasher.verify(user.password_hash if user else None, password) and user is not None

    def start(
        self, email: str, password: str, ctx: RequestContext = NO_CONTEXT, device_token: str | None = None
    ) -> LoginStarted | TokenPair:
        """`device_token` from an earlier "remember this device" skips the second factor.

        Raises: InvalidCredentials, AccountLocked, RateLimited, SecondFactorRequired, SmsDeliveryError.
        """
        try:
            email = normalise_email(email)
        except InvalidInput:
            email = email.strip().lower()
        attempt = self._limits.begin_login(email, ctx)
        # The account and (where one storage request can) its enrolled factors, read together.
        user, enrolled = self._users.find_user_signing_in(email)
        # An unknown email costs the same Argon2 work and the same counter writes as a known one, and
        # answers the same: no timing or response oracle for who has an account.
        if not self._hasher.verify(user.password_hash if user else None, password) or user is None:
            self._audit.record("login_failed", ctx=ctx, email=email, user_id=user.id if user else None)
            raise InvalidCredentials()
        factors: tuple[Factor, ...] | None = None
        if device_token is None and not self._hasher.needs_rehash(user.password_hash):
            factors = self._available(user, enrolled)
            if user.phone is not None and (SecondFactorService.preferred(factors) or factors[0]) == "sms":
                # The password's counts settled, the lock and the wrong-code count checked, in the
                # storage request that takes the code's SMS limits (each on its own where one refuses).
                owed = self._limits.settle_with_code(attempt, user.id, ctx)
                try:
                    return self._challenge(user, factors, "sms", ctx, owed)
                finally:
                    owed.settle()  # a no-op once settled; else the code failed before its SMS was asked
        # The password's counts settled, the lock checked and the wrong-code count (checked below,
        # before a code goes out) read, in one storage request.
        code_failures = self._limits.login_succeeded(attempt, user.id)
        if self._hasher.needs_rehash(user.password_hash):
            self._users.set_password_hash(user.id, self._hasher.hash(password))
        if self._devices is not None and self._devices.recognises(device_token, user.id):
            # The second factor is possession of this device's token, set by an earlier sign-in with
            # two factors. RFC 8176 registers no value for it; `device` says it without colliding.
            self._audit.record("login_succeeded", ctx=ctx, user_id=user.id, factors="pwd,device")
            return self._tokens.issue_pair(user, REMEMBERED_DEVICE_AMR, ctx)
        if factors is None:
            factors = self._available(user, enrolled)
        if not factors:
            if self._require_second_factor:
                self._audit.record("login_failed", ctx=ctx, user_id=user.id, reason="no_phone")
                raise SecondFactorRequired()
            self._audit.record("login_succeeded", ctx=ctx, user_id=user.id, factors="pwd")
            return self._tokens.issue_pair(user, ("pwd",), ctx)
        self._limits.check_code_failures(user.id, code_failures, ctx)
        expected = SecondFactorService.preferred(factors) or factors[0]
        return self._challenge(user, factors, expected, ctx)

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
            )
            resend_after = self._codes.resend_after(challenge)
        else:  # no text message: the authenticator app (or a passkey) is expected first
            challenge = self._codes.open_unsent(
                challenge_id=new_uuid4(),
                subject=user.id,
                phone=user.phone or E164(""),  # no phone: no SMS fallback
                spec=self._spec,
                ttl_seconds=max(self._spec.ttl_seconds, UNSENT_CHALLENGE_TTL_SECONDS),
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

    def complete(self, otp_id: str, code: object, ctx: RequestContext = NO_CONTEXT) -> TokenPair:
        """The expected factor's code for tokens; see `finish`."""
        return self.finish(otp_id, code, ctx).pair

    def finish(
        self, otp_id: str, code: object, ctx: RequestContext = NO_CONTEXT, factor: Factor | None = None
    ) -> SignedIn:
        """Check a code of `factor` (default: the expected one: SMS once a code was texted, else the
        authenticator app). Every factor shares the challenge's attempt budget and the account lock.

        Raises: ChallengeNotFound, ChallengeGone (410 family), WrongCode, RateLimited, InvalidInput,
        FactorUnavailable.
        """
        # The account comes with the challenge (one storage request where the backend can): as it is
        # now, so an account deleted since the password step signs nobody in.
        challenge, account = self._challenges.get_challenge_with_account(otp_id)
        if challenge is None or challenge.purpose != "login":
            raise ChallengeNotFound()
        chosen: Factor = factor or ("sms" if challenge.sends > 0 else "totp")
        if chosen == "sms":
            check, right = self._texted_checker(challenge, code, ctx)
            return self.gated(challenge, chosen, check, ctx, known_right=right, account=(account,))
        return self.gated(challenge, chosen, self._checker(challenge, chosen, code), ctx, account=(account,))

    def _texted_checker(
        self, challenge: Challenge, code: object, ctx: RequestContext
    ) -> tuple[Callable[[], tuple[str, ...]], bool]:
        """The check of a texted code, returning its `amr`, and whether the code is the one read (then
        no wrong code is counted up front: `gated`); input is validated here, before anything counts."""
        if challenge.sends == 0:
            raise FactorUnavailable("No code was texted for this sign-in; ask for one first.")
        right = self._codes.matches_read(challenge, code)

        def texted() -> tuple[str, ...]:
            # The fraud guard's count of a used code goes with the account's reset (`gated`).
            checked = self._codes.check(
                challenge.id, code, "login", ctx, read=challenge, count_verified=False
            )
            return ("pwd", CHANNEL_METHOD.get(checked.channel, "sms"))

        return texted, right

    def _checker(self, challenge: Challenge, factor: Factor, code: object) -> Callable[[], tuple[str, ...]]:
        """The check of an app factor's code, returning its `amr`; input is validated here, before an
        attempt is counted."""
        if self._factors is None or factor not in ("totp", "recovery"):
            raise FactorUnavailable()
        factors = self._factors
        matches = (factors.totp_checker if factor == "totp" else factors.recovery_checker)(
            challenge.subject, code
        )

        def other() -> tuple[str, ...]:
            self._codes.check_with(challenge, lambda _: matches())
            return AMR[factor]

        return other

    def gated(
        self,
        challenge: Challenge,
        factor: str,
        check: Callable[[], tuple[str, ...]],
        ctx: RequestContext,
        *,
        known_right: bool = False,
        account: tuple[User | None] | None = None,
    ) -> SignedIn:
        """Run `check` (which returns the `amr`) under the per-account lock and wrong-code budget (NIST
        800-63B), then issue tokens.

        Every code is counted as a wrong one before its outcome counts, so parallel guesses cannot pass
        the budget, except one `known_right` (it matched the challenge as read): that one is checked
        against the budget in the request that resets it (`code_succeeded`), one storage request
        instead of three (count, reset, give back); if the code was replaced meanwhile and turns out
        wrong, it is counted then, like any wrong code. `account`: the subject's account as read with the
        challenge (`get_challenge_with_account`; inside a tuple, as it may be None: gone); else read here.
        """
        user_id = challenge.subject
        count = None if known_right else self._limits.begin_code_attempt(user_id, ctx)
        try:
            amr = check()
        except WrongCode as wrong:
            self._audit.record(
                "code_failed",
                ctx=ctx,
                user_id=user_id,
                remaining=str(wrong.attempts_remaining),
                factor=factor,
            )
            if count is None:
                count = self._limits.begin_code_attempt(user_id, ctx)
            self._limits.code_attempt_failed(user_id, count, ctx)
            raise
        except TwoStepError:
            if count is not None:
                self._limits.code_attempt_void(user_id)
            raise
        # Unless the account is locked (AccountLocked) or, for a code not counted up front, its wrong
        # codes are spent (RateLimited): its wrong codes start again, and a texted code counts as used
        # for the fraud guard.
        phone = challenge.phone if factor == "sms" else None
        known = account[0] if account is not None else None
        if known is not None and (factor != "sms" or known.phone_verified):
            # The usual sign-in: the counts above go with the session, one storage request, held back
            # (nothing stored) while the account is locked or its wrong codes are spent.
            signed = self._sign_in_counted(known, factor, amr, phone, ctx, within_budget=count is None)
            if signed is not None:
                return signed
        try:
            self._limits.code_succeeded(user_id, phone, within_budget=count is None, ctx=ctx)
        except AccountLocked:
            if count is not None:
                self._limits.code_attempt_void(user_id)  # a right code is no wrong one
            raise
        user = account[0] if account is not None else self._users.get_user(user_id)
        if user is None:
            raise ChallengeNotFound()
        events = [self._audit.entry("code_verified", ctx=ctx, user_id=user.id, factor=factor)]
        if factor == "sms" and not user.phone_verified and self._users.prove_phone(user.id, challenge.phone):
            # The code came back from the number: it is this account's now, other claims on it end.
            events.append(
                self._audit.entry("phone_verified", ctx=ctx, user_id=user.id, phone=challenge.phone)
            )
        events.append(self._audit.entry("login_succeeded", ctx=ctx, user_id=user.id, factors=",".join(amr)))
        # The session and the step's two or three events in one storage request, all or none.
        pair = self._tokens.issue_pair(user, amr, ctx, audits=events)
        self._audit.logged(*events)
        return SignedIn(pair, user.id, amr, factor)

    def _sign_in_counted(
        self,
        user: User,
        factor: str,
        amr: tuple[str, ...],
        phone: str | None,
        ctx: RequestContext,
        *,
        within_budget: bool,
    ) -> SignedIn | None:
        """`gated`'s last steps for an account whose number needs no proof: `code_succeeded`'s counts
        written with the session and the step's events; None, nothing stored, when they were held
        back (the caller's step by step way says why)."""
        events = [
            self._audit.entry("code_verified", ctx=ctx, user_id=user.id, factor=factor),
            self._audit.entry("login_succeeded", ctx=ctx, user_id=user.id, factors=",".join(amr)),
        ]
        counts = self._limits.code_success_counts(user.id, phone, within_budget=within_budget)
        pair = self._tokens.issue_pair_counted(user, amr, ctx, events, counts)
        if pair is None:
            return None
        self._audit.logged(*events)
        return SignedIn(pair, user.id, amr, factor)

    def _spec_in(self, preferred_locale: str | None) -> CodeSpec:
        """The login code spec with the account's stored language (no copy when it is the spec's)."""
        if preferred_locale == self._spec.preferred_locale:
            return self._spec
        return replace(self._spec, preferred_locale=preferred_locale)

    def _spec_for(self, user_id: str, ctx: RequestContext, channel: str) -> CodeSpec:
        """The code spec for `channel` with the account's stored language, read only when the request
        names none."""
        spec = self._spec if channel == SMS else replace(self._spec, channel=channel)
        if not self._codes.wants_preference(ctx):
            return spec
        user = self._users.get_user(user_id)
        return replace(spec, preferred_locale=user.locale if user else None)

    def resend(self, otp_id: str, ctx: RequestContext = NO_CONTEXT, channel: str = SMS) -> CodeResent:
        """A new code by `channel` (`sms`, or `voice` / `whatsapp` where configured).

        Raises: ChannelNotConfigured, ChallengeNotFound, ChallengeGone, RateLimited, SmsDeliveryError.
        """
        self._codes.ensure_channel(channel)
        challenge = self._challenges.get_challenge(otp_id)
        if challenge is None or challenge.purpose != "login":
            raise ChallengeNotFound()
        # A locked account gets no more codes: they could not be used, and each one costs money.
        self._limits.check_second_factor_allowed(challenge.subject, ctx)
        replaced = self._codes.replace(challenge, self._spec_for(challenge.subject, ctx, channel), ctx)
        return CodeResent(expires_at=replaced.expires_at, resend_after=self._codes.resend_after(replaced))
