"""The language an account wants its texts in: set at registration or later through the account API."""

from __future__ import annotations

from twostep.domain.errors import InvalidToken
from twostep.domain.locales import normalise_locale
from twostep.domain.models import RequestContext, User
from twostep.domain.ports import UserStore
from twostep.services.audit import AuditService


def optional_locale(raw: str | None) -> str | None:
    """A request's `locale` in canonical form; None or blank: none.

    Raises: InvalidInput naming `locale` for a malformed tag.
    """
    return normalise_locale(raw) if raw is not None and raw.strip() else None


class LocalePreferences:
    """Stores an account's language; any well-formed tag is kept (one without bundled texts is passed
    over by the locale chain, and used once texts for it exist)."""

    def __init__(self, users: UserStore, audit: AuditService) -> None:
        self._users, self._audit = users, audit

    def set(self, user_id: str, raw: str | None, ctx: RequestContext) -> User:
        """Store (None or blank: forget) the caller's language.

        Raises: InvalidInput for a malformed tag; InvalidToken when the account is gone.
        """
        locale = optional_locale(raw)
        if not self._users.set_user_locale(user_id, locale):
            raise InvalidToken()
        self._audit.record("locale_changed", ctx=ctx, user_id=user_id, locale=locale or "none")
        user = self._users.get_user(user_id)
        if user is None:
            raise InvalidToken()
        return user
