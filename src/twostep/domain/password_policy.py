"""Which passwords an account may set here: its length by the factors it signs in with, and its words.

NIST SP 800-63B-4 (3.1.1.2) asks at least 15 characters of a password that may be the only factor and
at least 8 of one always used with a second. Where `TWOSTEP_REQUIRE_SECOND_FACTOR=false`, any account may
sign in with its password alone (one with no second factor, or once it removes the last), so the setting
decides, not the account's factors today. No tenant overrides it: tenants are callers of the verification
API, never accounts that sign in with a password.
"""

from __future__ import annotations

from dataclasses import dataclass

from twostep.domain.passwords import MIN_LENGTH, check_password_rules

MIN_LENGTH_AS_ONLY_FACTOR = 15
SERVICE_NAME = "twostep"


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The rules a new password (sign-up, change, reset) meets; a sign-in never applies them, so existing
    passwords keep working whatever the policy becomes."""

    min_length: int = MIN_LENGTH
    service_names: tuple[str, ...] = (SERVICE_NAME,)

    def check(self, password: str, *, email: str, field: str = "password") -> None:
        """Raises: WeakPassword naming what to change (the minimum, or "too common or easy to guess") and
        `field`, the request's name for the new password (`newPassword` on a change or a reset)."""
        words = (*self.service_names, email, email.partition("@")[0])
        check_password_rules(password, context_words=words, min_length=self.min_length, field=field)


def min_password_length(*, require_second_factor: bool) -> int:
    """15 characters where a password can be the only factor, else 8."""
    return MIN_LENGTH if require_second_factor else MIN_LENGTH_AS_ONLY_FACTOR


def password_policy(*, require_second_factor: bool, org_name: str) -> PasswordPolicy:
    """The policy for this deployment (see `min_password_length`)."""
    min_length = min_password_length(require_second_factor=require_second_factor)
    names = (SERVICE_NAME,) if org_name.lower() == SERVICE_NAME else (SERVICE_NAME, org_name)
    return PasswordPolicy(min_length=min_length, service_names=names)
