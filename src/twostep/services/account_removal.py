"""Deleting and locking accounts: every session ends first, then personal data goes.

Deletion keeps what others need and nothing that names the person: messages stay under a neutral
author, audit events keep only a pseudonymous id (an HMAC of the user id, so the events of one
deleted account still belong together). Each step can be repeated, and the user record goes last,
so a deletion interrupted by a failing dependency can simply be run again.
"""

from __future__ import annotations

import hashlib
import hmac

from twostep.domain.clock import Clock
from twostep.domain.errors import CurrentPasswordWrong, NotFound
from twostep.domain.models import NO_CONTEXT, RequestContext
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import AuditStore, MessageStore, UserStore
from twostep.services.account_locks import AccountLocks
from twostep.services.audit import AuditService
from twostep.services.sessions import SessionService

DELETED_AUTHOR = "Deleted account"


class UserNotFound(NotFound):
    code = "user_not_found"
    default_message = "No such user."


class AccountRemovalService:
    def __init__(
        self,
        *,
        users: UserStore,
        messages: MessageStore,
        audit_store: AuditStore,
        sessions: SessionService,
        locks: AccountLocks,
        hasher: PasswordHasher,
        audit: AuditService,
        clock: Clock,
        pseudonym_key: bytes,
    ) -> None:
        self._users, self._messages, self._audit_store = users, messages, audit_store
        self._sessions, self._locks, self._hasher = sessions, locks, hasher
        self._audit, self._clock = audit, clock
        self._key = hmac.new(pseudonym_key, b"twostep-deleted-user", hashlib.sha256).digest()

    def pseudonym(self, user_id: str) -> str:
        return "deleted-" + hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()[:24]

    def delete(
        self, user_id: str, current_password: str | None = None, ctx: RequestContext = NO_CONTEXT
    ) -> str:
        """End every session and erase the account's personal data; returns the pseudonym left behind.

        `current_password` is checked when given (the user deleting their own account); an
        administrator (`twostep users delete`) passes None.

        Raises:
            UserNotFound: no such user.
            CurrentPasswordWrong: the password does not match.
        """
        user = self._users.get_user(user_id)
        if user is None:
            raise UserNotFound(f"No user {user_id}.")
        if current_password is not None and not self._hasher.verify(user.password_hash, current_password):
            raise CurrentPasswordWrong()
        pseudonym = self.pseudonym(user_id)
        self._sessions.end_all(user_id, ctx=ctx, reason="account_deleted")
        self._messages.anonymise_messages(user_id, DELETED_AUTHOR, pseudonym)
        self._audit_store.pseudonymise_audit(user_id, pseudonym)
        self._users.delete_user(user_id, self._clock.now())
        self._locks.unlock(user_id)
        # Only the request id: the trail of a deleted account keeps no address either.
        self._audit.record("user_deleted", ctx=RequestContext(request_id=ctx.request_id), user_id=pseudonym)
        return pseudonym

    def lock(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> int:
        """Lock the account (no sign-in, no refresh) and end its sessions; returns how many ended.

        Raises:
            UserNotFound: no such user.
        """
        if self._users.get_user(user_id) is None:
            raise UserNotFound()
        self._locks.lock(user_id)
        self._audit.record("user_locked", ctx=ctx, user_id=user_id)
        return self._sessions.end_all(user_id, ctx=ctx, reason="account_locked")

    def unlock(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Raises: UserNotFound."""
        if self._users.get_user(user_id) is None:
            raise UserNotFound()
        self._locks.unlock(user_id)
        self._audit.record("user_unlocked", ctx=ctx, user_id=user_id)
