"""A sign-in begun before its account's password or phone number changed cannot be finished.

A password change or reset ends every session of the account, and a new number takes over its texts;
a sign-in whose password step passed before the change would otherwise still open a session with its
code afterwards (the old password's holder's, or a code texted to the old number). Each login keeps the
account's `User.credentials_tag` from when it began (`Challenge.credentials_tag`), compared with the
account as read with the challenge.
"""

from __future__ import annotations

from twostep.domain.errors import SignInOutdated
from twostep.domain.models import Challenge, RequestContext, User
from twostep.services.audit import AuditService


def refuse_if_outdated(
    challenge: Challenge, account: User | None, audit: AuditService, ctx: RequestContext
) -> None:
    """Raises: SignInOutdated (audited as a failed login), when the account's credentials changed since
    `challenge` began. A login stored before tags were kept, or a deleted account, is left to the caller."""
    if challenge.credentials_tag is None or account is None:
        return
    if account.credentials_tag != challenge.credentials_tag:
        audit.record("login_failed", ctx=ctx, user_id=account.id, reason="credentials_changed")
        raise SignInOutdated()
