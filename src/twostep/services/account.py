"""The account as its owner and administrators see it: read, list, delete, lock, unlock, a new address.

Routes (`/me`) and the CLI (`twostep users ...`) call this service, never the storage directly. Each
method is one small step so that later features (changes of phone, email and password) can build on it.

Deletion keeps what others need and nothing that names the person: every session ends first, messages
stay under a neutral author, audit events keep only a pseudonymous id (an HMAC of the user id, so the
events of one deleted account still belong together). Each step can be repeated and the user record
goes last, so a deletion interrupted by a failing dependency can simply be run again.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from twostep.domain.clock import Clock
from twostep.domain.errors import (
    AccountExists,
    CredentialsChanged,
    CurrentPasswordWrong,
    InvalidInput,
    InvalidToken,
    NotFound,
)
from twostep.domain.identity import mask_email, normalise_email
from twostep.domain.models import NO_CONTEXT, Page, RequestContext, User
from twostep.domain.ports import AuditStore, MessageStore, UserStore
from twostep.services.account_locks import AccountLocks
from twostep.services.account_notices import AccountNotices
from twostep.services.audit import AuditService
from twostep.services.limits import LimitsService
from twostep.services.reauthentication import Reauthentication
from twostep.services.sessions import SessionService

DELETED_AUTHOR = "Deleted account"
SIGN_OUT_PAGE = 500  # accounts read at a time when every session ends


class AccountNotFound(NotFound):
    code = "account_not_found"
    default_message = "No such account."


@dataclass(frozen=True)
class AccountStores:
    users: UserStore
    messages: MessageStore
    audit: AuditStore


class AccountService:
    def __init__(
        self,
        *,
        stores: AccountStores,
        sessions: SessionService,
        locks: AccountLocks,
        notices: AccountNotices,
        reauth: Reauthentication,
        limits: LimitsService,
        audit: AuditService,
        clock: Clock,
        pseudonym_key: bytes,
    ) -> None:
        self._users, self._stores = stores.users, stores
        self._sessions, self._locks, self._reauth, self._notices = sessions, locks, reauth, notices
        self._limits, self._audit, self._clock = limits, audit, clock
        self._pseudonym_key = hmac.new(pseudonym_key, b"twostep-deleted-user", hashlib.sha256).digest()

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

    def sign_out_everyone(self, ctx: RequestContext = NO_CONTEXT, *, reason: str = "administrator") -> int:
        """End every live session of every account, a page of accounts at a time; returns how many ended.

        After an older backup is restored its sessions are live again: those ended since (signed out, or
        ended after a theft) and those whose refresh token was spent since, which then works again.
        """
        ended, cursor = 0, None
        while True:
            page = self._users.list_users(SIGN_OUT_PAGE, cursor)
            for user in page.items:
                ended += max(self._sessions.end_all(user.id, ctx=ctx, reason=reason), 0)
            if page.next_cursor is None:
                return ended
            cursor = page.next_cursor

    def pseudonym(self, user_id: str) -> str:
        """What the audit trail calls a deleted account."""
        return "deleted-" + hmac.new(self._pseudonym_key, user_id.encode(), hashlib.sha256).hexdigest()[:24]

    def delete(
        self, user_id: str, current_password: str | None = None, ctx: RequestContext = NO_CONTEXT
    ) -> str:
        """End every session and erase the account's personal data; returns the pseudonym left behind.

        `current_password` is checked when given (the owner deleting their account), throttled like a
        sign-in; an administrator (`twostep users delete`) passes None.

        Raises:
            AccountNotFound.
            CurrentPasswordWrong: the password does not match.
            RateLimited: too many wrong passwords (for this account from this client, or for the account).
        """
        user = self.get(user_id)
        if current_password is not None and not self._reauth.confirms(
            user, current_password, ctx, reason="reauth_delete"
        ):
            raise CurrentPasswordWrong()
        pseudonym = self.pseudonym(user_id)
        self._sessions.end_all(user_id, ctx=ctx, reason="account_deleted")
        self._stores.messages.anonymise_messages(user_id, DELETED_AUTHOR, pseudonym)
        self._stores.audit.pseudonymise_audit(user_id, pseudonym)
        self._users.delete_user(user_id, self._clock.now())
        self._locks.unlock(user_id)
        # Only the request id: the trail of a deleted account keeps no address either.
        self._audit.record("user_deleted", ctx=RequestContext(request_id=ctx.request_id), user_id=pseudonym)
        return pseudonym

    def lock(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> int:
        """Lock the account (no sign-in, no refresh) and end its sessions; returns how many ended.

        Raises:
            AccountNotFound.
        """
        self.get(user_id)
        self._locks.lock(user_id)
        self._audit.record("user_locked", ctx=ctx, user_id=user_id)
        return self._sessions.end_all(user_id, ctx=ctx, reason="account_locked")

    def unlock(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Lift an administrative lock, and reset the wrong-code count after the second factor
        locked (NIST 800-63B).

        Raises:
            AccountNotFound.
        """
        self.get(user_id)
        self._locks.unlock(user_id)
        self._limits.reset_code_failures(user_id)
        self._audit.record("user_unlocked", ctx=ctx, user_id=user_id)

    def set_email(self, user_id: str, email: str, ctx: RequestContext = NO_CONTEXT) -> User:
        """An administrator gives the account a new address (one whose address was taken back by a claim,
        say), stored unproven: its owner proves it as any address (`POST /me/email/verify/start`), and
        until then no reset code goes there. Sessions go on (no session asked for it, unlike a change by
        the owner, which a stolen session could make); the old proven address and number get the notice
        of an email change, whose email names an administrator instead of a device and network.

        Raises:
            AccountNotFound. InvalidInput: not an address, or the account's own already.
            AccountExists: another account has the address.
            CredentialsChanged: the account changed while this was written (run it again).
        """
        before = self.get(user_id)
        address = normalise_email(email)
        if address == before.email:
            raise InvalidInput("The account already has this email address.", field="email")
        if self._users.find_user_by_email(address) is not None:
            raise AccountExists(f"Another account has the address {mask_email(address)}.")
        if not self._users.assign_email(before, address):
            raise CredentialsChanged("The account changed while its address was being written; try again.")
        self._audit.record("email_changed", ctx=ctx, user_id=user_id, email=address, by="administrator")
        self._notices.send(
            before,
            "email_changed",
            ctx,
            destination=mask_email(address),
            phone=before.phone,
            by_administrator=True,
        )
        return self.get(user_id)
