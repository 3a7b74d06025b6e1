"""SQLite and PostgreSQL: the enrolled second factors in one statement (`enrolled_factors`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twostep.domain.factor_summary import EnrolledFactors

# One statement, three index lookups by user; `{p}` is the driver's placeholder.
ENROLLED = (
    "SELECT EXISTS (SELECT 1 FROM passkeys WHERE user_id = {p}) AS passkeys,"
    " EXISTS (SELECT 1 FROM totp_factors WHERE user_id = {p} AND secret_sealed IS NOT NULL) AS totp,"
    " (SELECT COUNT(*) FROM recovery_codes WHERE user_id = {p} AND used_at IS NULL) AS recovery"
)


def enrolled(row: Mapping[str, Any] | None) -> EnrolledFactors:
    if row is None:
        return EnrolledFactors(passkeys=False, totp=False, recovery_codes=0)
    return EnrolledFactors(
        passkeys=bool(row["passkeys"]), totp=bool(row["totp"]), recovery_codes=int(row["recovery"])
    )
