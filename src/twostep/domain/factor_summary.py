"""Which second factors an account has enrolled, read in one storage request at sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class EnrolledFactors:
    passkeys: bool  # at least one passkey
    totp: bool  # an enabled authenticator app (a pending enrolment does not count)
    recovery_codes: int  # unused recovery codes


class EnrolledFactorStore(Protocol):
    def enrolled_factors(self, user_id: str) -> EnrolledFactors:
        """What `list_passkeys`, `get_totp` and `count_recovery_codes` tell, in one storage request."""
        ...
