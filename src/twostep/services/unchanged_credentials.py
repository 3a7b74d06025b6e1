"""A sign-in, a password reset or a change of number or address begun before its account's password,
number or address changed cannot be finished.

A password change or reset ends every session of the account, and a new number or address takes over its
codes. A sign-in whose password step passed before the change would otherwise still open a session with its
code afterwards (the old password's holder's, or a code texted to the old number), and a reset whose code
went to the old number or address would still set a password, and a number or address change begun with a
stolen password would still be confirmed after the owner changed it. Each login, reset and change keeps the
account's `User.credentials_tag` from when it began (`Challenge.credentials_tag`), compared with the account
as it is when the flow is finished.

That covers a flow's start to its last step. From the last step's read of the account to its write, the
storage itself checks: `TokenService.issue_pair` stores a session only for the account as read
(`SessionStore.add_session`'s `unchanged`), a new password hash (a change, a reset, a sign-in's rehash)
is stored only over the credentials its request checked (`UserStore.set_password_hash`), and so is a new
or proven number or address (`UserStore.prove_phone`, `UserStore.prove_email`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import NoReturn

from twostep.domain.errors import ChallengeNotFound, CredentialsChanged
from twostep.domain.models import Challenge, RequestContext, User
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.services.audit import AuditService


def refuse_if_changed(
    challenge: Challenge, account: User | None, audit: AuditService, ctx: RequestContext, *, event: str
) -> None:
    """Raises: CredentialsChanged (audited as `event`, `reason: credentials_changed`) when the account's
    credentials changed since `challenge` began. Untagged (stored before tags were kept, or an unknown
    email's reset) or without an account (deleted): left to the caller."""
    tag = challenge.credentials_tag
    if tag is not None and account is not None and account.credentials_tag != tag:
        refuse_changed(account, audit, ctx, event=event)


def refuse_changed(account: User, audit: AuditService, ctx: RequestContext, *, event: str) -> NoReturn:
    """Raises: CredentialsChanged, audited as `event` with `reason: credentials_changed`."""
    audit.record(event, ctx=ctx, user_id=account.id, reason="credentials_changed")
    raise CredentialsChanged()


def set_password_hash_unchanged(
    users: UserStore,
    account: User,
    password_hash: str,
    audit: AuditService,
    ctx: RequestContext,
    *,
    event: str,
) -> User:
    """`account` with its new `password_hash`, stored only while the account is as its request checked it
    (a change committed meanwhile would otherwise be overwritten: an old password's rehash undid it).

    Raises: CredentialsChanged (audited as `event`), nothing stored."""
    if not users.set_password_hash(account, password_hash):
        refuse_changed(account, audit, ctx, event=event)
    return replace(account, password_hash=password_hash)


def current_login(
    challenges: ChallengeStore, otp_id: str, audit: AuditService, ctx: RequestContext
) -> tuple[Challenge, User]:
    """The login `otp_id` and its account as it is now (one storage request where the backend can).

    Raises:
        ChallengeNotFound: no such login, or its account was deleted since it began (nothing more may be
            texted to that number, nor counted or audited under the id its deletion pseudonymised).
        CredentialsChanged: the account's credentials changed since it began (audited as a failed login).
    """
    challenge, account = challenges.get_challenge_with_account(otp_id)
    if challenge is None or challenge.purpose != "login" or account is None:
        raise ChallengeNotFound()
    refuse_if_changed(challenge, account, audit, ctx, event="login_failed")
    return challenge, account
