"""Changes a signed-in owner makes: password, phone number, email address, and proving the email.

Every change asks for the current password (throttled like a sign-in, per client); a new phone or
email becomes the account's only when a code sent to it comes back. A change of phone or email is
announced to the old number and to the proven email, so a hijacked session cannot change them quietly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NoReturn

from twostep.domain.clock import Clock
from twostep.domain.errors import AccountExists, ChallengeNotFound, InvalidCredentials, InvalidInput
from twostep.domain.identity import mask_email, mask_phone, normalise_email, parse_phone
from twostep.domain.models import NO_CONTEXT, ChallengePurpose, RequestContext, User
from twostep.domain.password_policy import PasswordPolicy
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import UserStore
from twostep.services.account_notices import AccountNotices
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.email_claims import is_placeholder
from twostep.services.limits import LimitsService
from twostep.services.reauthentication import Reauthentication
from twostep.services.session_ending import SessionEnder
from twostep.services.unchanged_credentials import (
    refuse_changed,
    refuse_if_changed,
    set_password_hash_unchanged,
)


@dataclass(frozen=True, slots=True)
class ChangeStarted:
    change_id: str
    expires_at: datetime
    destination: str  # masked


class AccountChangeService:
    def __init__(
        self,
        *,
        users: UserStore,
        codes: ChallengeService,
        hasher: PasswordHasher,
        limits: LimitsService,
        reauth: Reauthentication,
        notices: AccountNotices,
        sessions: SessionEnder,
        audit: AuditService,
        clock: Clock,
        spec: CodeSpec,
        password_policy: PasswordPolicy,
    ) -> None:
        self._users, self._codes, self._hasher, self._limits = users, codes, hasher, limits
        self._reauth, self._notices = reauth, notices
        self._sessions, self._audit, self._clock, self._spec = sessions, audit, clock, spec
        self._password_policy = password_policy

    def _user(self, user_id: str) -> User:
        user = self._users.get_user(user_id)
        if user is None:
            raise InvalidCredentials()
        return user

    def _check_password(self, user: User, password: str, ctx: RequestContext) -> None:
        """Raises: InvalidCredentials, RateLimited."""
        self._reauth.check(user, password, ctx, reason="change_password_check")

    # --- password ---
    def change_password(
        self, user_id: str, current: str, new: str, ctx: RequestContext = NO_CONTEXT, keep: str | None = None
    ) -> None:
        """Raises: InvalidCredentials, RateLimited, WeakPassword / InvalidInput, CredentialsChanged (the
        account's password, number or address changed since it was read: of two changes made with one
        current password, the later is refused instead of replacing the first)."""
        user = self._user(user_id)
        self._check_password(user, current, ctx)
        self._password_policy.check(new, email=user.email, field="newPassword")
        new_hash = self._hasher.hash(new)
        set_password_hash_unchanged(
            self._users, user, new_hash, self._audit, ctx, event="password_change_failed"
        )
        self._audit.record("password_changed", ctx=ctx, user_id=user.id)
        self._sessions.end_all(user.id, keep=keep, ctx=ctx, reason="password_changed")
        self._notices.send(user, "password_changed", ctx)

    # --- phone ---
    def start_phone_change(
        self, user_id: str, phone: str, current_password: str, ctx: RequestContext = NO_CONTEXT
    ) -> ChangeStarted:
        """Text a code to the new number. Raises: InvalidCredentials, InvalidPhoneNumber, RateLimited,
        DestinationNotAllowed, SmsDeliveryError."""
        user = self._user(user_id)
        self._check_password(user, current_password, ctx)
        number = parse_phone(phone, field="phoneNumber")
        self._limits.check_destination(number, ctx, field="phoneNumber")
        challenge = self._codes.issue(
            challenge_id=str(uuid.uuid4()),
            purpose="phone_change",
            subject=user.id,
            phone=number,
            spec=replace(self._spec, preferred_locale=user.locale),
            ctx=ctx,
            credentials_tag=user.credentials_tag,  # a password change or reset meanwhile ends it
        )
        return ChangeStarted(challenge.id, challenge.expires_at, mask_phone(number))

    def confirm_phone_change(
        self,
        user_id: str,
        change_id: str,
        code: object,
        ctx: RequestContext = NO_CONTEXT,
        keep: str | None = None,
    ) -> User:
        """Make the number the account's and end every session but `keep` (the one that changed it).

        Raises: ChallengeNotFound, ChallengeGone, WrongCode, RateLimited, AccountExists,
        CredentialsChanged (the account's password, number or address changed since the change began)."""
        before = self._user(user_id)
        challenge = self._codes.check_owned(change_id, code, "phone_change", user_id, ctx)
        refuse_if_changed(challenge, before, self._audit, ctx, event="phone_change_failed")
        if not self._users.prove_phone(before, challenge.phone):
            self._refuse_proof(before, ctx)
        self._audit.record("phone_changed", ctx=ctx, user_id=user_id, phone=challenge.phone)
        # A number changes after a lost or stolen phone: the sessions its codes opened end (checklist S6).
        self._sessions.end_all(user_id, keep=keep, ctx=ctx, reason="phone_changed")
        old = before.phone if before.phone != challenge.phone else None
        self._notices.send(before, "phone_changed", ctx, destination=mask_phone(challenge.phone), phone=old)
        return self._user(user_id)

    def _refuse_proof(self, before: User, ctx: RequestContext) -> NoReturn:
        """Why a number's proof wrote nothing: the account changed since it was read (a write over it
        would undo that change), else another account has proven the number.

        Raises: CredentialsChanged, AccountExists."""
        now = self._users.get_user(before.id)
        if now is None or now.credentials_tag != before.credentials_tag:
            refuse_changed(before, self._audit, ctx, event="phone_change_failed")
        raise AccountExists("Another account has proven this phone number.")

    # --- email ---
    def start_email_change(
        self, user_id: str, email: str, current_password: str, ctx: RequestContext = NO_CONTEXT
    ) -> ChangeStarted:
        """Email a code to the new address. Raises: InvalidCredentials, InvalidInput, AccountExists,
        RateLimited, EmailDeliveryError."""
        user = self._user(user_id)
        self._check_password(user, current_password, ctx)
        address = normalise_email(email)
        if address != user.email and self._users.find_user_by_email(address) is not None:
            raise AccountExists("Another account has this email address.")
        return self._email_code(user, address, "email_change", ctx)

    def start_email_verify(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> ChangeStarted:
        """Email a code to the account's own address.

        Raises: InvalidInput (its address was taken back by a claim: a placeholder), RateLimited,
        EmailDeliveryError."""
        user = self._user(user_id)
        if is_placeholder(user.email):
            # Nobody can read it (`.invalid`): the mail would only bounce, and a provider counts bounces
            # against the sender (SES pauses a sender whose bounce rate grows).
            raise InvalidInput(
                "The account has no email address to prove: set one with POST /me/email.", field="email"
            )
        return self._email_code(user, user.email, "email_verify", ctx)

    def _email_code(
        self, user: User, address: str, purpose: ChallengePurpose, ctx: RequestContext
    ) -> ChangeStarted:
        challenge = self._codes.issue_email(
            challenge_id=str(uuid.uuid4()),
            purpose=purpose,
            subject=user.id,
            email=address,
            spec=replace(self._spec, preferred_locale=user.locale),
            ctx=ctx,
            phone=user.phone,
            credentials_tag=user.credentials_tag,  # a password change or reset meanwhile ends it
        )
        return ChangeStarted(challenge.id, challenge.expires_at, mask_email(address))

    def confirm_email(
        self,
        user_id: str,
        change_id: str,
        code: object,
        ctx: RequestContext = NO_CONTEXT,
        keep: str | None = None,
    ) -> User:
        """The code of an email change (every session but `keep` ends) or of proving the address.

        Raises: ChallengeNotFound, ChallengeGone, WrongCode, RateLimited, AccountExists,
        CredentialsChanged (the account's password, number or address changed since the change began,
        or since it was read: a proof of the old address would otherwise put it back over the new one)."""
        before = self._user(user_id)
        purpose = self._codes.purpose_of(change_id)
        if purpose is None or purpose not in {"email_change", "email_verify"}:
            raise ChallengeNotFound()
        challenge = self._codes.check_owned(change_id, code, purpose, user_id, ctx)
        refuse_if_changed(challenge, before, self._audit, ctx, event="email_change_failed")
        address = challenge.email or ""
        if purpose == "email_verify" and address != before.email:
            raise ChallengeNotFound()  # the address changed since the code was sent
        if not self._users.prove_email(before, address):
            refuse_changed(before, self._audit, ctx, event="email_change_failed")
        if purpose == "email_verify":
            self._audit.record("email_verified", ctx=ctx, user_id=user_id)
        else:
            self._audit.record("email_changed", ctx=ctx, user_id=user_id)
            self._sessions.end_all(user_id, keep=keep, ctx=ctx, reason="email_changed")
            self._notices.send(
                before, "email_changed", ctx, destination=mask_email(address), phone=before.phone
            )
        return self._user(user_id)

    # --- notices ---
