"""SQLite and PostgreSQL: the enrolled second factors in one statement (`enrolled_factors`)."""

from __future__ import annotations

from twostep.domain.factor_summary import EnrolledFactors
from twostep.storage.deliveries_sql import Row

# One statement, three index lookups by user; `{p}` is the driver's placeholder.
ENROLLED = (
    "SELECT EXISTS (SELECT 1 FROM passkeys WHERE user_id = {p}) AS passkeys,"
    " EXISTS (SELECT 1 FROM totp_factors WHERE user_id = {p} AND secret_sealed IS NOT NULL) AS totp,"
    " (SELECT COUNT(*) FROM recovery_codes WHERE user_id = {p} AND used_at IS NULL) AS recovery"
)

# The same three lookups as columns of the `users` row found by email; `{p}` is the placeholder, `{id}`
# the row's id as the factor tables' indexes compare it (PostgreSQL: users.id is COLLATE "C", the factor
# tables' user_id the database default, and a comparison in another collation cannot use their indexes).
FIND_SIGNING_IN = (
    "SELECT users.*,"
    " EXISTS (SELECT 1 FROM passkeys WHERE passkeys.user_id = {id}) AS passkeys,"
    " EXISTS (SELECT 1 FROM totp_factors WHERE totp_factors.user_id = {id}"
    " AND totp_factors.secret_sealed IS NOT NULL) AS totp,"
    " (SELECT COUNT(*) FROM recovery_codes WHERE recovery_codes.user_id = {id}"
    " AND recovery_codes.used_at IS NULL) AS recovery"
    " FROM users WHERE email = {p}"
)


def enrolled(row: Row | None) -> EnrolledFactors:
    if row is None:
        return EnrolledFactors(passkeys=False, totp=False, recovery_codes=0)
    return EnrolledFactors(
        passkeys=bool(row["passkeys"]), totp=bool(row["totp"]), recovery_codes=int(row["recovery"])
    )
