"""Factor records in SQLite (see domain/factor_ports.py): single use by `UPDATE … WHERE` or
`DELETE … RETURNING`, never by reading first. The tables come from migration step 7 (schema_factors.py)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from twostep.domain.factor_errors import PasskeyExists, PasskeyLimitReached
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.factors import Ceremony, PasskeyCredential, RememberedDevice, TotpFactor
from twostep.domain.models import User
from twostep.storage.sql_accounts import unchanged_account_sql, unchanged_account_values
from twostep.storage.sql_devices import FORGET_DEVICES_BEYOND
from twostep.storage.sql_factor_summary import ENROLLED, enrolled
from twostep.storage.sql_passkeys import INSERT_PASSKEY
from twostep.storage.sqlite_connection import SqliteConnections, epoch, moment, moment_or_none

# The new passkey, only while its user has fewer than the limit (the last two parameters).
WITHIN_LIMIT = "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM passkeys WHERE user_id = ?) < ?"
INSERT_PASSKEY_WITHIN = f"{INSERT_PASSKEY} {WITHIN_LIMIT}"

INSERT_DEVICE = "INSERT INTO remembered_devices (token_hash, id, user_id, created_at, expires_at, label)"
# The same row, written only while the account is unchanged: the check is the insert (no more statements).
DEVICE_IF_UNCHANGED = (
    f"{INSERT_DEVICE} SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS ({unchanged_account_sql('?', 'IS')})"
)


def _totp(row: sqlite3.Row | None) -> TotpFactor | None:
    if row is None:
        return None
    return TotpFactor(
        user_id=row["user_id"],
        created_at=moment(row["created_at"]),
        secret_sealed=row["secret_sealed"],
        pending_sealed=row["pending_sealed"],
        enabled_at=moment_or_none(row["enabled_at"]),
        last_step=row["last_step"],
    )


def _passkey(row: sqlite3.Row) -> PasskeyCredential:
    return PasskeyCredential(
        credential_id=row["credential_id"],
        user_id=row["user_id"],
        public_key=bytes(row["public_key"]),
        sign_count=row["sign_count"],
        created_at=moment(row["created_at"]),
        name=row["name"],
        backed_up=bool(row["backed_up"]),
        transports=tuple(t for t in row["transports"].split(",") if t),
        last_used_at=moment_or_none(row["last_used_at"]),
    )


def _device(row: sqlite3.Row) -> RememberedDevice:
    return RememberedDevice(
        id=row["id"],
        user_id=row["user_id"],
        token_hash=row["token_hash"],
        created_at=moment(row["created_at"]),
        expires_at=moment(row["expires_at"]),
        label=row["label"],
    )


class SqliteFactors(SqliteConnections):
    def enrolled_factors(self, user_id: str) -> EnrolledFactors:
        row = self._one(ENROLLED.format(p="?"), (user_id,) * 3)
        return enrolled(None if row is None else dict(row))

    # --- TOTP ---
    def get_totp(self, user_id: str) -> TotpFactor | None:
        return _totp(self._one("SELECT * FROM totp_factors WHERE user_id = ?", (user_id,)))

    def begin_totp_enrolment(self, user_id: str, pending_sealed: str, now: datetime) -> None:
        self._execute(
            "INSERT INTO totp_factors (user_id, created_at, pending_sealed) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET pending_sealed = excluded.pending_sealed",
            (user_id, epoch(now), pending_sealed),
        )

    def confirm_totp(self, user_id: str, pending_sealed: str, step: int, now: datetime) -> bool:
        cursor = self._execute(
            "UPDATE totp_factors SET secret_sealed = pending_sealed, pending_sealed = NULL, enabled_at = ?,"
            " last_step = ? WHERE user_id = ? AND pending_sealed = ?",
            (epoch(now), step, user_id, pending_sealed),
        )
        return cursor.rowcount == 1

    def advance_totp_step(self, user_id: str, step: int) -> bool:
        cursor = self._execute(
            "UPDATE totp_factors SET last_step = ? WHERE user_id = ? AND secret_sealed IS NOT NULL"
            " AND (last_step IS NULL OR last_step < ?)",
            (step, user_id, step),
        )
        return cursor.rowcount == 1

    def delete_totp(self, user_id: str) -> bool:
        return self._execute("DELETE FROM totp_factors WHERE user_id = ?", (user_id,)).rowcount == 1

    # --- recovery codes ---
    def replace_recovery_codes(self, user_id: str, code_hashes: tuple[str, ...], now: datetime) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
            conn.executemany(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)",
                [(user_id, code_hash, epoch(now)) for code_hash in code_hashes],
            )

    def use_recovery_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        cursor = self._execute(
            "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
            (epoch(now), user_id, code_hash),
        )
        return cursor.rowcount == 1

    def count_recovery_codes(self, user_id: str) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ? AND used_at IS NULL", (user_id,)
        )
        return int(row["n"]) if row is not None else 0

    # --- passkeys ---
    def add_passkey(self, credential: PasskeyCredential, at_most: int | None = None) -> None:
        c = credential
        values = (
            c.credential_id,
            c.user_id,
            c.public_key,
            c.sign_count,
            epoch(c.created_at),
            c.name,
            int(c.backed_up),
            ",".join(c.transports),
            epoch(c.last_used_at),
        )
        # One statement: SQLite takes the write lock before it counts, so of registrations finishing at
        # once each counts the ones before it and none passes the limit.
        sql, params = (
            (INSERT_PASSKEY + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            if at_most is None
            else (INSERT_PASSKEY_WITHIN, (*values, c.user_id, at_most))
        )
        try:
            stored = self._execute(sql, params, unique=True).rowcount
        except sqlite3.IntegrityError as exc:
            raise PasskeyExists() from exc
        if stored == 0 and at_most is not None:
            raise PasskeyLimitReached(at_most)

    def get_passkey(self, credential_id: str) -> PasskeyCredential | None:
        row = self._one("SELECT * FROM passkeys WHERE credential_id = ?", (credential_id,))
        return None if row is None else _passkey(row)

    def list_passkeys(self, user_id: str) -> list[PasskeyCredential]:
        rows = self._all(
            "SELECT * FROM passkeys WHERE user_id = ? ORDER BY created_at, credential_id", (user_id,)
        )
        return [_passkey(row) for row in rows]

    def record_passkey_use(
        self, credential_id: str, expected_count: int, new_count: int, now: datetime
    ) -> bool:
        cursor = self._execute(
            "UPDATE passkeys SET sign_count = ?, last_used_at = ? WHERE credential_id = ? AND sign_count = ?",
            (new_count, epoch(now), credential_id, expected_count),
        )
        return cursor.rowcount == 1

    def delete_passkey(self, user_id: str, credential_id: str) -> bool:
        cursor = self._execute(
            "DELETE FROM passkeys WHERE credential_id = ? AND user_id = ?", (credential_id, user_id)
        )
        return cursor.rowcount == 1

    # --- WebAuthn ceremonies ---
    def put_ceremony(self, ceremony: Ceremony) -> None:
        c = ceremony
        self._execute(
            "INSERT INTO webauthn_ceremonies (id, purpose, subject, challenge, expires_at) VALUES (?, ?, ?, ?, ?)",
            (c.id, c.purpose, c.subject, c.challenge, epoch(c.expires_at)),
        )

    def take_ceremony(self, ceremony_id: str, now: datetime) -> Ceremony | None:
        row = self._one("DELETE FROM webauthn_ceremonies WHERE id = ? RETURNING *", (ceremony_id,))
        if row is None or row["expires_at"] <= epoch(now):
            return None
        return Ceremony(
            id=row["id"],
            purpose=row["purpose"],
            subject=row["subject"],
            challenge=row["challenge"],
            expires_at=moment(row["expires_at"]),
        )

    # --- remembered devices ---
    def add_remembered_device(self, device: RememberedDevice, unchanged: User | None = None) -> bool:
        d = device
        row = (d.token_hash, d.id, d.user_id, epoch(d.created_at), epoch(d.expires_at), d.label)
        if unchanged is None:
            return self._execute(f"{INSERT_DEVICE} VALUES (?, ?, ?, ?, ?, ?)", row).rowcount == 1
        return self._execute(DEVICE_IF_UNCHANGED, (*row, *unchanged_account_values(unchanged))).rowcount == 1

    def find_remembered_device(self, token_hash: str, now: datetime) -> RememberedDevice | None:
        row = self._one(
            "SELECT * FROM remembered_devices WHERE token_hash = ? AND expires_at > ?",
            (token_hash, epoch(now)),
        )
        return None if row is None else _device(row)

    def list_remembered_devices(self, user_id: str, now: datetime) -> list[RememberedDevice]:
        rows = self._all(
            "SELECT * FROM remembered_devices WHERE user_id = ? AND expires_at > ? ORDER BY created_at, id",
            (user_id, epoch(now)),
        )
        return [_device(row) for row in rows]

    def forget_device(self, user_id: str, device_id: str) -> bool:
        cursor = self._execute(
            "DELETE FROM remembered_devices WHERE id = ? AND user_id = ?", (device_id, user_id)
        )
        return cursor.rowcount == 1

    def forget_all_devices(self, user_id: str) -> int:
        return self._execute("DELETE FROM remembered_devices WHERE user_id = ?", (user_id,)).rowcount

    def forget_devices_beyond(self, user_id: str, keep: int) -> list[str]:
        # One statement; SQLite runs one writer at a time, so the last adder's call sees every add.
        rows = self._all(FORGET_DEVICES_BEYOND.format(p="?"), (user_id, user_id, keep))
        return [row["id"] for row in sorted(rows, key=lambda row: (row["created_at"], row["id"]))]

    # --- account deletion ---
    @staticmethod
    def _erase_factors_of(conn: sqlite3.Connection, user_id: str) -> None:
        """Inside `delete_user`'s transaction: every factor record of the user, which frees the credential
        ids of their passkeys; so is a registration ceremony begun for them."""
        for table in ("totp_factors", "recovery_codes", "passkeys", "remembered_devices"):
            conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))  # noqa: S608 - fixed names
        conn.execute("DELETE FROM webauthn_ceremonies WHERE purpose = 'register' AND subject = ?", (user_id,))
