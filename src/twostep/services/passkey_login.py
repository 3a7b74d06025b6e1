"""Signing in with a passkey: as the second step after the password, or alone (passwordless, with
user verification: the authenticator checked a PIN or biometric, so it is two factors in one)."""

from __future__ import annotations

from typing import Any

from twostep.domain.errors import ChallengeNotFound
from twostep.domain.factor_errors import FactorUnavailable, PasskeyRejected
from twostep.domain.models import NO_CONTEXT, Challenge, RequestContext
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.services.account_locks import AccountLocks
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService
from twostep.services.limits import LimitsService
from twostep.services.login import LoginService, SignedIn
from twostep.services.passkeys import Options, PasskeyService, RelyingParty
from twostep.services.tokens import TokenService
from twostep.services.unchanged_credentials import current_login


class PasskeyLoginService:
    def __init__(
        self,
        *,
        login: LoginService,
        passkeys: PasskeyService,
        challenges: ChallengeStore,
        codes: ChallengeService,
        users: UserStore,
        tokens: TokenService,
        limits: LimitsService,
        locks: AccountLocks,
        audit: AuditService,
    ) -> None:
        self._login, self._passkeys, self._challenges, self._codes = login, passkeys, challenges, codes
        self._users, self._tokens, self._limits, self._audit = users, tokens, limits, audit
        self._locks = locks

    def _login_challenge(self, otp_id: str) -> Challenge:
        challenge = self._challenges.get_challenge(otp_id)
        if challenge is None or challenge.purpose != "login":
            raise ChallengeNotFound()
        return challenge

    # --- second factor ---
    def second_factor_options(self, otp_id: str, rp: RelyingParty) -> Options:
        """Raises: ChallengeNotFound, FactorUnavailable (the account has no passkey)."""
        challenge = self._login_challenge(otp_id)
        allow = self._passkeys.passkeys_of(challenge.subject)
        if not allow:
            raise FactorUnavailable("This account has no passkey.")
        return self._passkeys.authentication_options("second_factor", otp_id, rp, allow)

    def finish_second_factor(
        self,
        otp_id: str,
        ceremony_id: str,
        credential: dict[str, Any],
        rp: RelyingParty,
        ctx: RequestContext = NO_CONTEXT,
    ) -> SignedIn:
        """The passkey assertion as the login's second step; shares the challenge's attempt budget.

        Raises: ChallengeNotFound, ChallengeGone, CeremonyExpired, PasskeyRejected, WrongCode, RateLimited.
        """
        challenge, account = current_login(self._challenges, otp_id, self._audit, ctx)
        methods: list[str] = []

        def matches(_: Challenge) -> bool:
            assertion = self._passkeys.verify(ceremony_id, credential, "second_factor", otp_id, rp)
            methods.append(assertion.method)
            return assertion.credential.user_id == challenge.subject  # another account's passkey: wrong

        def check() -> tuple[str, ...]:
            self._codes.check_with(challenge, matches)
            return ("pwd", methods[0])

        return self._login.gated(challenge, "passkey", check, ctx, account=(account,))

    # --- passwordless ---
    def passwordless_options(self, rp: RelyingParty, ctx: RequestContext = NO_CONTEXT) -> Options:
        """Raises: RateLimited (the caller's IP asks too often)."""
        self._limits.check_ip("login", ctx)
        return self._passkeys.authentication_options("authenticate", "", rp, [])

    def sign_in(
        self, ceremony_id: str, credential: dict[str, Any], rp: RelyingParty, ctx: RequestContext = NO_CONTEXT
    ) -> SignedIn:
        """Raises: CeremonyExpired, PasskeyRejected, AccountLocked (`twostep users lock`: no sign-in of any
        kind), CredentialsChanged (a password, number or address change committed while this was
        checked)."""
        assertion = self._passkeys.verify(ceremony_id, credential, "authenticate", "", rp)
        user = self._users.get_user(assertion.credential.user_id)
        if user is None or not assertion.user_verified:
            raise PasskeyRejected()
        # A password's sign-in checks the lock with its counts; this one has no password step.
        self._locks.check(user.id)
        amr = (assertion.method, "user")
        event = self._audit.entry("login_succeeded", ctx=ctx, user_id=user.id, factors=",".join(amr))
        pair = self._tokens.issue_pair(user, amr, ctx, audits=[event])  # stored with the session
        self._audit.logged(event)
        return SignedIn(pair, user, amr, "passkey")
