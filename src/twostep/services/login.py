"""Password sign-in, then the SMS code: `start` checks the password and texts a code, `complete` trades
the code for tokens, `resend` sends a fresh code for the same login."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from twostep.domain.clock import Clock
from twostep.domain.errors import (
    ChallengeNotFound,
    InvalidCredentials,
    InvalidInput,
    SecondFactorRequired,
    TwoStepError,
    WrongCode,
)
from twostep.domain.identity import mask_phone, normalise_email
from twostep.domain.models import NO_CONTEXT, RequestContext
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.services.account_locks import AccountLocks
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.limits import LimitsService
from twostep.services.tokens import TokenPair, TokenService


@dataclass(frozen=True, slots=True)
class LoginStarted:
    otp_id: str
    expires_at: datetime
    destination: str
    resend_after: datetime


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
        locks: AccountLocks,
        audit: AuditService,
        clock: Clock,
        code_spec: CodeSpec,
        require_second_factor: bool,
    ) -> None:
        self._locks = locks
        self._users, self._challenges, self._codes, self._tokens = users, challenges, codes, tokens
        self._hasher, self._limits, self._audit, self._clock = hasher, limits, audit, clock
        self._spec = code_spec
        self._require_second_factor = require_second_factor

    def start(self, email: str, password: str, ctx: RequestContext = NO_CONTEXT) -> LoginStarted | TokenPair:
        """Raises: InvalidCredentials, AccountLocked, RateLimited, SecondFactorRequired, SmsDeliveryError."""
        try:
            email = normalise_email(email)
        except InvalidInput:
            email = email.strip().lower()
        self._limits.begin_login(email, ctx)
        user = self._users.find_user_by_email(email)
        # An unknown email costs the same Argon2 work and the same counter writes as a known one, and
        # answers the same: no timing or response oracle for who has an account.
        if not self._hasher.verify(user.password_hash if user else None, password) or user is None:
            self._audit.record("login_failed", ctx=ctx, email=email, user_id=user.id if user else None)
            raise InvalidCredentials()
        self._limits.login_succeeded(email, ctx)
        self._locks.check(user.id)
        if self._hasher.needs_rehash(user.password_hash):
            self._users.set_password_hash(user.id, self._hasher.hash(password))
        if user.phone is None:
            if self._require_second_factor:
                self._audit.record("login_failed", ctx=ctx, user_id=user.id, reason="no_phone")
                raise SecondFactorRequired()
            self._audit.record("login_succeeded", ctx=ctx, user_id=user.id, factors="pwd")
            return self._tokens.issue_pair(user, ("pwd",), ctx)
        self._limits.check_second_factor_allowed(user.id, ctx)
        challenge = self._codes.issue(
            challenge_id=str(uuid.uuid4()),
            purpose="login",
            subject=user.id,
            phone=user.phone,
            spec=self._spec,
            ctx=ctx,
        )
        return LoginStarted(
            otp_id=challenge.id,
            expires_at=challenge.expires_at,
            destination=mask_phone(user.phone),
            resend_after=self._codes.resend_after(challenge),
        )

    def complete(self, otp_id: str, code: object, ctx: RequestContext = NO_CONTEXT) -> TokenPair:
        """Raises: ChallengeNotFound, ChallengeGone (410 family), WrongCode, RateLimited, InvalidInput."""
        challenge = self._challenges.get_challenge(otp_id)
        if challenge is None or challenge.purpose != "login":
            raise ChallengeNotFound()
        count = self._limits.begin_code_attempt(challenge.subject, ctx)
        try:
            self._codes.check(otp_id, code, "login", ctx, read=challenge)
        except WrongCode as wrong:
            self._audit.record(
                "code_failed", ctx=ctx, user_id=challenge.subject, remaining=str(wrong.attempts_remaining)
            )
            self._limits.code_attempt_failed(challenge.subject, count, ctx)
            raise
        except TwoStepError:
            self._limits.code_attempt_void(challenge.subject)
            raise
        self._limits.reset_code_failures(challenge.subject)
        user = self._users.get_user(challenge.subject)
        if user is None:
            raise ChallengeNotFound()
        self._locks.check(user.id)
        self._audit.record("code_verified", ctx=ctx, user_id=user.id)
        if not user.phone_verified and self._users.prove_phone(user.id, challenge.phone):
            # The code came back from the number: it is this account's now, other claims on it end.
            self._audit.record("phone_verified", ctx=ctx, user_id=user.id, phone=challenge.phone)
        self._audit.record("login_succeeded", ctx=ctx, user_id=user.id, factors="pwd,sms")
        return self._tokens.issue_pair(user, ("pwd", "sms"), ctx)

    def resend(self, otp_id: str, ctx: RequestContext = NO_CONTEXT) -> CodeResent:
        """Raises: ChallengeNotFound, ChallengeGone, RateLimited, SmsDeliveryError."""
        challenge = self._challenges.get_challenge(otp_id)
        if challenge is None or challenge.purpose != "login":
            raise ChallengeNotFound()
        # A locked account gets no more codes: they could not be used, and each one costs money.
        self._limits.check_second_factor_allowed(challenge.subject, ctx)
        replaced = self._codes.replace(challenge, self._spec, ctx)
        return CodeResent(expires_at=replaced.expires_at, resend_after=self._codes.resend_after(replaced))
