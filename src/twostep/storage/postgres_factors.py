"""Factor records in PostgreSQL (see domain/factor_ports.py): single use by `UPDATE … WHERE` and
`DELETE … RETURNING` (a second writer waits for the row lock, then re-checks the WHERE). The tables
come from migration step 7 (schema_factors.py)."""

from __future__ import annotations

from datetime import datetime

import psycopg

from twostep.domain.factor_errors import PasskeyExists, PasskeyLimitReached
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.factors import Ceremony, PasskeyCredential, RememberedDevice, TotpFactor
from twostep.domain.models import User
from twostep.storage.postgres_connection import PostgresConnections, Row
from twostep.storage.postgres_sessions import UNCHANGED
from twostep.storage.sql_accounts import unchanged_account_values
from twostep.storage.sql_devices import FORGET_DEVICES_BEYOND
from twostep.storage.sql_factor_summary import ENROLLED, enrolled
from twostep.storage.sql_passkeys import INSERT_PASSKEY

# The first key of the advisory lock on one user's passkeys (the second: a hash of the user id); the
# two-key form never meets the migrations' one-key lock.
PASSKEY_LOCK_CLASS = 0x706B6579  # "pkey"

INSERT_DEVICE = "INSERT INTO remembered_devices (token_hash, id, user_id, created_at, expires_at, label)"
# Written only while the account is unchanged, read `FOR SHARE` as a session's write reads it (a password
# change that forgets every device waits for this statement's commit, or, committed first, leaves no row).
DEVICE_IF_UNCHANGED = f"WITH {UNCHANGED} {INSERT_DEVICE} SELECT %s, %s, %s, %s, %s, %s FROM unchanged"  # noqa: S608 (constants)

# Run by `delete_user` in its transaction, each with the user id: every factor record of the user (which
# frees the credential ids of their passkeys) and any registration ceremony begun for them.
ERASE_FACTORS_OF_USER = (
    "DELETE FROM totp_factors WHERE user_id = %s",
    "DELETE FROM recovery_codes WHERE user_id = %s",
    "DELETE FROM passkeys WHERE user_id = %s",
    "DELETE FROM remembered_devices WHERE user_id = %s",
    "DELETE FROM webauthn_ceremonies WHERE purpose = 'register' AND subject = %s",
)


def _totp(row: Row | None) -> TotpFactor | None:
    if row is None:
        return None
    return TotpFactor(
        user_id=row["user_id"],
        created_at=row["created_at"],
        secret_sealed=row["secret_sealed"],
        pending_sealed=row["pending_sealed"],
        enabled_at=row["enabled_at"],
        last_step=row["last_step"],
    )


def _passkey(row: Row) -> PasskeyCredential:
    return PasskeyCredential(
        credential_id=row["credential_id"],
        user_id=row["user_id"],
        public_key=bytes(row["public_key"]),
        sign_count=row["sign_count"],
        created_at=row["created_at"],
        name=row["name"],
        backed_up=row["backed_up"],
        transports=tuple(t for t in row["transports"].split(",") if t),
        last_used_at=row["last_used_at"],
    )


def _device(row: Row) -> RememberedDevice:
    return RememberedDevice(
        id=row["id"],
        user_id=row["user_id"],
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        label=row["label"],
    )


class PostgresFactors(PostgresConnections):
    def enrolled_factors(self, user_id: str) -> EnrolledFactors:
        return enrolled(self._one(ENROLLED.format(p="%s"), (user_id,) * 3))

    # --- TOTP ---
    def get_totp(self, user_id: str) -> TotpFactor | None:
        return _totp(self._one("SELECT * FROM totp_factors WHERE user_id = %s", (user_id,)))

    def begin_totp_enrolment(self, user_id: str, pending_sealed: str, now: datetime) -> None:
        self._execute(
            "INSERT INTO totp_factors (user_id, created_at, pending_sealed) VALUES (%s, %s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET pending_sealed = excluded.pending_sealed",
            (user_id, now, pending_sealed),
        )

    def confirm_totp(self, user_id: str, pending_sealed: str, step: int, now: datetime) -> bool:
        return (
            self._execute(
                "UPDATE totp_factors SET secret_sealed = pending_sealed, pending_sealed = NULL,"
                " enabled_at = %s, last_step = %s WHERE user_id = %s AND pending_sealed = %s",
                (now, step, user_id, pending_sealed),
            )
            == 1
        )

    def advance_totp_step(self, user_id: str, step: int) -> bool:
        return (
            self._execute(
                "UPDATE totp_factors SET last_step = %s WHERE user_id = %s AND secret_sealed IS NOT NULL"
                " AND (last_step IS NULL OR last_step < %s)",
                (step, user_id, step),
            )
            == 1
        )

    def delete_totp(self, user_id: str) -> bool:
        return self._execute("DELETE FROM totp_factors WHERE user_id = %s", (user_id,)) == 1

    # --- recovery codes ---
    def replace_recovery_codes(self, user_id: str, code_hashes: tuple[str, ...], now: datetime) -> None:
        with self._guard() as conn, conn.transaction():
            self._run(conn, "DELETE FROM recovery_codes WHERE user_id = %s", (user_id,))
            for code_hash in code_hashes:
                self._run(
                    conn,
                    "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (%s, %s, %s)",
                    (user_id, code_hash, now),
                )

    def use_recovery_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        return (
            self._execute(
                "UPDATE recovery_codes SET used_at = %s WHERE user_id = %s AND code_hash = %s AND used_at IS NULL",
                (now, user_id, code_hash),
            )
            == 1
        )

    def count_recovery_codes(self, user_id: str) -> int:
        row = self._one(
            "SELECT count(*) AS n FROM recovery_codes WHERE user_id = %s AND used_at IS NULL", (user_id,)
        )
        return 0 if row is None else int(row["n"])

    # --- passkeys ---
    def add_passkey(self, credential: PasskeyCredential, at_most: int | None = None) -> None:
        c = credential
        values = (
            c.credential_id,
            c.user_id,
            c.public_key,
            c.sign_count,
            c.created_at,
            c.name,
            c.backed_up,
            ",".join(c.transports),
            c.last_used_at,
        )
        try:
            with self._guard(unique=True) as conn, conn.transaction():
                if at_most is not None:
                    self._hold_passkey_limit(conn, c.user_id, at_most)
                self._run(conn, INSERT_PASSKEY + " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", values)
        except psycopg.errors.UniqueViolation as exc:
            raise PasskeyExists() from exc

    def _hold_passkey_limit(self, conn: psycopg.Connection[Row], user_id: str, at_most: int) -> None:
        """Under a lock on the user's passkeys held to the commit: registrations finishing at once take
        turns, and each counts (a statement of its own, so under READ COMMITTED a fresh snapshot) the ones
        committed before it. Raises: PasskeyLimitReached (the transaction then rolls back)."""
        self._run(conn, "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (PASSKEY_LOCK_CLASS, user_id))
        row = self._run(conn, "SELECT count(*) AS n FROM passkeys WHERE user_id = %s", (user_id,)).fetchone()
        if row is not None and int(row["n"]) >= at_most:
            raise PasskeyLimitReached(at_most)

    def get_passkey(self, credential_id: str) -> PasskeyCredential | None:
        row = self._one("SELECT * FROM passkeys WHERE credential_id = %s", (credential_id,))
        return None if row is None else _passkey(row)

    def list_passkeys(self, user_id: str) -> list[PasskeyCredential]:
        rows = self._all(
            "SELECT * FROM passkeys WHERE user_id = %s ORDER BY created_at, credential_id", (user_id,)
        )
        return [_passkey(row) for row in rows]

    def record_passkey_use(
        self, credential_id: str, expected_count: int, new_count: int, now: datetime
    ) -> bool:
        return (
            self._execute(
                "UPDATE passkeys SET sign_count = %s, last_used_at = %s WHERE credential_id = %s"
                " AND sign_count = %s",
                (new_count, now, credential_id, expected_count),
            )
            == 1
        )

    def delete_passkey(self, user_id: str, credential_id: str) -> bool:
        return (
            self._execute(
                "DELETE FROM passkeys WHERE credential_id = %s AND user_id = %s", (credential_id, user_id)
            )
            == 1
        )

    # --- WebAuthn ceremonies ---
    def put_ceremony(self, ceremony: Ceremony) -> None:
        c = ceremony
        self._execute(
            "INSERT INTO webauthn_ceremonies (id, purpose, subject, challenge, expires_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (c.id, c.purpose, c.subject, c.challenge, c.expires_at),
        )

    def take_ceremony(self, ceremony_id: str, now: datetime) -> Ceremony | None:
        row = self._one("DELETE FROM webauthn_ceremonies WHERE id = %s RETURNING *", (ceremony_id,))
        if row is None or row["expires_at"] <= now:
            return None
        return Ceremony(
            id=row["id"],
            purpose=row["purpose"],
            subject=row["subject"],
            challenge=row["challenge"],
            expires_at=row["expires_at"],
        )

    # --- remembered devices ---
    def add_remembered_device(self, device: RememberedDevice, unchanged: User | None = None) -> bool:
        d = device
        row = (d.token_hash, d.id, d.user_id, d.created_at, d.expires_at, d.label)
        if unchanged is None:
            return self._execute(f"{INSERT_DEVICE} VALUES (%s, %s, %s, %s, %s, %s)", row) == 1
        return self._execute(DEVICE_IF_UNCHANGED, (*unchanged_account_values(unchanged), *row)) == 1

    def find_remembered_device(self, token_hash: str, now: datetime) -> RememberedDevice | None:
        row = self._one(
            "SELECT * FROM remembered_devices WHERE token_hash = %s AND expires_at > %s", (token_hash, now)
        )
        return None if row is None else _device(row)

    def list_remembered_devices(self, user_id: str, now: datetime) -> list[RememberedDevice]:
        rows = self._all(
            "SELECT * FROM remembered_devices WHERE user_id = %s AND expires_at > %s ORDER BY created_at, id",
            (user_id, now),
        )
        return [_device(row) for row in rows]

    def forget_device(self, user_id: str, device_id: str) -> bool:
        return (
            self._execute(
                "DELETE FROM remembered_devices WHERE id = %s AND user_id = %s", (device_id, user_id)
            )
            == 1
        )

    def forget_all_devices(self, user_id: str) -> int:
        return self._execute("DELETE FROM remembered_devices WHERE user_id = %s", (user_id,))

    def forget_devices_beyond(self, user_id: str, keep: int) -> list[str]:
        # A statement's snapshot begins after the caller's own add committed, so the last adder's call
        # sees every add; a row another call deletes first is skipped (its WHERE re-checked), not reported.
        rows = self._all(FORGET_DEVICES_BEYOND.format(p="%s"), (user_id, user_id, keep))
        return [row["id"] for row in sorted(rows, key=lambda row: (row["created_at"], row["id"]))]
