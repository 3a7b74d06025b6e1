"""Keeping an account's last second factor while the service requires one.

An account made while `TWOSTEP_REQUIRE_SECOND_FACTOR` was off may have no phone number; once the setting is
on, its authenticator app or passkeys are all that lets it sign in. Removing the last of them would leave
a password that every sign-in refuses (`second_factor_required`), with no way back the owner could take
alone. An account with a number always keeps the texted code, so it is never read further.
"""

from __future__ import annotations

from typing import Protocol

from twostep.domain.factor_errors import LastSecondFactor
from twostep.domain.factors import PasskeyCredential, TotpFactor
from twostep.domain.models import User


class SecondFactorsRead(Protocol):
    def get_totp(self, user_id: str) -> TotpFactor | None: ...

    def list_passkeys(self, user_id: str) -> list[PasskeyCredential]: ...


class LastFactorGuard:
    def __init__(self, *, store: SecondFactorsRead, required: bool) -> None:
        self._store, self._required = store, required

    def allow_removing_app(self, user: User) -> None:
        """Raises: LastSecondFactor (the app is the account's only second factor, and one is required)."""
        if self._needs_a_factor(user) and not self._store.list_passkeys(user.id):
            raise LastSecondFactor()

    def allow_removing_passkey(self, user: User, credential_id: str) -> None:
        """Raises: LastSecondFactor (the passkey is the account's only second factor, and one is required)."""
        if not self._needs_a_factor(user):
            return
        others = [p for p in self._store.list_passkeys(user.id) if p.credential_id != credential_id]
        totp = self._store.get_totp(user.id)
        if not others and (totp is None or not totp.enabled):
            raise LastSecondFactor()

    def _needs_a_factor(self, user: User) -> bool:
        return self._required and user.phone is None
