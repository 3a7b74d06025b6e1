"""A sign-in's second step: `finish` trades the code of the step's second factor (the texted code, the
authenticator app's, a recovery code) for tokens, under the challenge's attempt budget and the account
lock (`gated`, which the passkey sign-in goes through too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twostep.domain.errors import AccountLocked, ChallengeNotFound, TwoStepError, WrongCode
from twostep.domain.factor_errors import FactorUnavailable
from twostep.domain.factors import Factor
from twostep.domain.models import NO_CONTEXT, Challenge, CodeUse, RequestContext, User
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService
from twostep.services.limits import LimitsService
from twostep.services.second_factor import SecondFactorService
from twostep.services.tokens import TokenPair, TokenService
from twostep.services.unchanged_credentials import current_login

# RFC 8176 method references of the app factors; a recovery code is a one-time password too. (A texted
# code's reference follows its channel: CHANNEL_METHOD.)
AMR: dict[str, tuple[str, ...]] = {"totp": ("pwd", "otp"), "recovery": ("pwd", "otp")}
# A texted code's method by the channel it went by. RFC 8176 has `tel` for a telephone call. It has no
# WhatsApp value: a WhatsApp message is a text to the account's number (WhatsApp accounts are that
# number's, registered by a code texted to it, so they share its SIM-swap risk), so it says `sms` rather
# than claiming a different method relying parties might rank higher. Unknown channels say `sms` too.
CHANNEL_METHOD: dict[str, str] = {"sms": "sms", "voice": "tel", "whatsapp": "sms"}


@dataclass(frozen=True, slots=True)
class SignedIn:
    pair: TokenPair
    account: User  # as the sign-in checked it: what a device it remembers is stored against
    amr: tuple[str, ...]
    factor: str  # the second factor used: sms, totp, recovery or passkey

    @property
    def user_id(self) -> str:
        return self.account.id


class CodeStep:
    def __init__(
        self,
        *,
        users: UserStore,
        challenges: ChallengeStore,
        codes: ChallengeService,
        tokens: TokenService,
        limits: LimitsService,
        audit: AuditService,
        factors: SecondFactorService | None = None,
    ) -> None:
        self._users, self._challenges, self._codes, self._tokens = users, challenges, codes, tokens
        self._limits, self._audit, self._factors = limits, audit, factors

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
        challenge, account = current_login(self._challenges, otp_id, self._audit, ctx)
        chosen: Factor = factor or ("sms" if challenge.sends > 0 else "totp")
        if chosen == "sms":
            signed = self._sign_in_at_once(challenge, code, account, ctx)
            if signed is not None:
                return signed
            check, right = self._texted_checker(challenge, code, ctx)
            return self.gated(challenge, chosen, check, ctx, known_right=right, account=(account,))
        return self.gated(challenge, chosen, self._checker(challenge, chosen, code), ctx, account=(account,))

    def _sign_in_at_once(
        self, challenge: Challenge, code: object, account: User | None, ctx: RequestContext
    ) -> SignedIn | None:
        """The usual sign-in with a texted code: the code's use, the account's counts, the session and
        the step's events in one storage request (`ChallengeService.use_right_code`). None, nothing
        stored, for anything else (no code texted, a wrong or replaced code, a number not proven yet, a
        locked account, spent wrong codes): then `gated` goes step by step and says why."""
        if account is None or not account.phone_verified or challenge.sends == 0:
            return None
        amr = ("pwd", CHANNEL_METHOD.get(challenge.channel, "sms"))
        return self._codes.use_right_code(
            challenge,
            code,
            lambda use: self._sign_in_counted(
                account, "sms", amr, challenge.phone, ctx, within_budget=True, consuming=use
            ),
        )

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
        if factor == "sms" and not user.phone_verified and self._users.prove_phone(user, challenge.phone):
            # The code came back from the number: it is this account's now, other claims on it end.
            events.append(
                self._audit.entry("phone_verified", ctx=ctx, user_id=user.id, phone=challenge.phone)
            )
        events.append(self._audit.entry("login_succeeded", ctx=ctx, user_id=user.id, factors=",".join(amr)))
        # The session and the step's two or three events in one storage request, all or none.
        pair = self._tokens.issue_pair(user, amr, ctx, audits=events)
        self._audit.logged(*events)
        return SignedIn(pair, user, amr, factor)

    def _sign_in_counted(
        self,
        user: User,
        factor: str,
        amr: tuple[str, ...],
        phone: str | None,
        ctx: RequestContext,
        *,
        within_budget: bool,
        consuming: CodeUse | None = None,
    ) -> SignedIn | None:
        """`gated`'s last steps for an account whose number needs no proof: `code_succeeded`'s counts
        written with the session and the step's events (and `consuming`, the code's use); None, nothing
        stored, when they were held back (the caller's step by step way says why)."""
        events = [
            self._audit.entry("code_verified", ctx=ctx, user_id=user.id, factor=factor),
            self._audit.entry("login_succeeded", ctx=ctx, user_id=user.id, factors=",".join(amr)),
        ]
        counts = self._limits.code_success_counts(user.id, phone, within_budget=within_budget)
        pair = self._tokens.issue_pair_counted(user, amr, ctx, events, counts, consuming)
        if pair is None:
            return None
        self._audit.logged(*events)
        return SignedIn(pair, user, amr, factor)
