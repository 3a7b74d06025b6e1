"""The account as its owner and administrators see it: read, list, delete, unlock.

Routes (`/me`) and the CLI (`twostep users ...`) call this service, never the storage directly. Each
method is one small step so that later features (erasure, session revocation, changes of phone,
email and password) can build on it.
"""

from __future__ import annotations

from twostep.domain.clock import Clock
from twostep.domain.errors import InvalidToken, NotFound
from twostep.domain.models import NO_CONTEXT, Page, RequestContext, User
from twostep.domain.ports import UserStore
from twostep.services.audit import AuditService
from twostep.services.limits import LimitsService


class AccountNotFound(NotFound):
    code = "account_not_found"
    default_message = "No such account."


class AccountService:
    def __init__(self, *, users: UserStore, limits: LimitsService, audit: AuditService, clock: Clock) -> None:
        self._users, self._limits, self._audit, self._clock = users, limits, audit, clock

    def get(self, user_id: str) -> User:
        """Raises: AccountNotFound."""
        user = self._users.get_user(user_id)
        if user is None:
            raise AccountNotFound(f"no user {user_id}")
        return user

    def current(self, user_id: str) -> User:
        """The signed-in caller's account; a token whose account is gone is no longer valid.

        Raises:
            InvalidToken: the account was deleted after the token was issued.
        """
        user = self._users.get_user(user_id)
        if user is None:
            raise InvalidToken()
        return user

    def list(self, limit: int, cursor: str | None = None) -> Page[User]:
        """Accounts for administration, ordered by id."""
        return self._users.list_users(limit, cursor)

    def delete(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Remove the account, free its email and phone, and end its sessions.

        Raises:
            AccountNotFound.
        """
        if not self._users.delete_user(user_id, self._clock.now()):
            raise AccountNotFound(f"no user {user_id}")
        self._audit.record("user_deleted", ctx=ctx, user_id=user_id)

    def unlock(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Reset the account's wrong-code count after the second factor locked (NIST 800-63B).

        Raises:
            AccountNotFound.
        """
        self.get(user_id)
        self._limits.reset_code_failures(user_id)
        self._audit.record("user_unlocked", ctx=ctx, user_id=user_id)
