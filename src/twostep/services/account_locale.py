"""The language an account wants its texts in: set at registration or later through the account API."""

from __future__ import annotations

from twostep.domain.errors import InvalidToken
from twostep.domain.locales import normalise_locale
from twostep.domain.models import User
from twostep.domain.ports import UserStore


def optional_locale(raw: str | None) -> str | None:
    """A request's `locale` in canonical form; None or blank: none.

    Raises: InvalidInput naming `locale` for a malformed tag.
    """
    return normalise_locale(raw) if raw is not None and raw.strip() else None


class LocalePreferences:
    """Stores an account's language; any well-formed tag is kept (one without bundled texts is passed
    over by the locale chain, and used once texts for it exist)."""

    def __init__(self, users: UserStore) -> None:
        self._users = users

    def set(self, user_id: str, raw: str | None) -> User:
        """Store (None or blank: forget) the caller's language (not audited: it grants nothing).

        Raises: InvalidInput for a malformed tag; InvalidToken when the account is gone.
        """
        locale = optional_locale(raw)
        if not self._users.set_user_locale(user_id, locale):
            raise InvalidToken()
        user = self._users.get_user(user_id)
        if user is None:
            raise InvalidToken()
        return user
