"""A sign-in begun before its account's password or phone number changed cannot be finished.

A password change or reset ends every session of the account, and a new number takes over its texts;
a sign-in whose password step passed before the change would otherwise still open a session with its
code afterwards (the old password's holder's, or a code texted to the old number). Each login keeps the
account's `User.credentials_tag` from when it began (`Challenge.credentials_tag`), compared with the
account as read with the challenge.
"""

from __future__ import annotations

from twostep.domain.errors import ChallengeNotFound, SignInOutdated
from twostep.domain.models import Challenge, RequestContext, User
from twostep.domain.ports import ChallengeStore
from twostep.services.audit import AuditService


def current_login(
    challenges: ChallengeStore, otp_id: str, audit: AuditService, ctx: RequestContext
) -> tuple[Challenge, User | None]:
    """The login `otp_id` and its account as it is now (one storage request where the backend can).

    Raises:
        ChallengeNotFound: no such login.
        SignInOutdated: the account's credentials changed since it began (audited as a failed login).
    """
    challenge, account = challenges.get_challenge_with_account(otp_id)
    if challenge is None or challenge.purpose != "login":
        raise ChallengeNotFound()
    # Untagged: a login stored before tags were kept. No account: deleted, which the caller refuses.
    tag = challenge.credentials_tag
    if tag is not None and account is not None and account.credentials_tag != tag:
        audit.record("login_failed", ctx=ctx, user_id=account.id, reason="credentials_changed")
        raise SignInOutdated()
    return challenge, account
