"""The current password, asked again before a signed-in request changes how the account signs in.

An access token proves a sign-in within the last minutes, not who holds it now: one stolen (a shared
computer left signed in, a token leaked from a client) must not be able to change the password, number or
address, nor add or remove a way to sign in (an authenticator app, a passkey, which signs in without the
password, or a fresh set of recovery codes). Each of those asks for the current password first (security
checklist S7; ASVS 5.0 7.5.1; NIST SP 800-63B §6.1.2.1).
"""

from __future__ import annotations

from twostep.domain.errors import InvalidCredentials, InvalidToken
from twostep.domain.models import RequestContext, User
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import UserStore
from twostep.services.audit import AuditService
from twostep.services.limits import LimitsService


class Reauthentication:
    def __init__(
        self, *, users: UserStore, hasher: PasswordHasher, limits: LimitsService, audit: AuditService
    ) -> None:
        self._users, self._hasher, self._limits, self._audit = users, hasher, limits, audit

    def account(self, user_id: str, password: str, ctx: RequestContext, *, reason: str) -> User:
        """The signed-in account, once `password` is its current one (`check`).

        Raises: InvalidToken (the account is gone), InvalidCredentials, RateLimited."""
        user = self._users.get_user(user_id)
        if user is None:
            raise InvalidToken()
        self.check(user, password, ctx, reason=reason)
        return user

    def check(self, user: User, password: str, ctx: RequestContext, *, reason: str) -> None:
        """Raises: InvalidCredentials (`confirms` said no), RateLimited."""
        if not self.confirms(user, password, ctx, reason=reason):
            raise InvalidCredentials("The current password is wrong.")

    def confirms(self, user: User, password: str, ctx: RequestContext, *, reason: str) -> bool:
        """Whether `password` is the account's current one, throttled per client and account like a
        sign-in (a stolen access token must not become a password oracle); a wrong one is audited as a
        failed sign-in with `reason`.

        Raises: RateLimited."""
        attempt = self._limits.begin_login(user.email, ctx)
        if not self._hasher.verify(user.password_hash, password):
            self._audit.record("login_failed", ctx=ctx, user_id=user.id, reason=reason)
            return False
        self._limits.login_succeeded(attempt)
        return True
