"""SQLite: `Idempotency-Key` records (one row per key; a live claim or answer wins over a new claim)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from twostep.domain.idempotency import IdempotencyRecord
from twostep.storage.sqlite_connection import SqliteConnections, epoch, moment


def _record(row: sqlite3.Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=row["key"],
        fingerprint=row["fingerprint"],
        lease=row["lease"],
        created_at=moment(row["created_at"]),
        expires_at=moment(row["expires_at"]),
        locked_until=moment(row["locked_until"]),
        answer=row["answer"],
    )


class SqliteIdempotency(SqliteConnections):
    def claim_idempotency_key(self, record: IdempotencyRecord) -> bool:
        # Insert, or take over an expired or abandoned row; a live one stays and RETURNING yields nothing.
        row = self._one(
            "INSERT INTO idempotency_keys (key, fingerprint, lease, created_at, expires_at, locked_until)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint,"
            " lease = excluded.lease, created_at = excluded.created_at, expires_at = excluded.expires_at,"
            " locked_until = excluded.locked_until, answer = NULL"
            " WHERE idempotency_keys.expires_at <= excluded.created_at"
            " OR (idempotency_keys.answer IS NULL AND idempotency_keys.locked_until <= excluded.created_at)"
            " RETURNING key",
            (
                record.key,
                record.fingerprint,
                record.lease,
                epoch(record.created_at),
                epoch(record.expires_at),
                epoch(record.locked_until),
            ),
        )
        return row is not None

    def get_idempotency_record(self, key: str, now: datetime) -> IdempotencyRecord | None:
        row = self._one("SELECT * FROM idempotency_keys WHERE key = ? AND expires_at > ?", (key, epoch(now)))
        return None if row is None else _record(row)

    def save_idempotent_answer(self, key: str, lease: str, answer: str) -> bool:
        return (
            self._execute(
                "UPDATE idempotency_keys SET answer = ? WHERE key = ? AND lease = ? AND answer IS NULL",
                (answer, key, lease),
            ).rowcount
            > 0
        )

    def release_idempotency_key(self, key: str, lease: str) -> None:
        self._execute(
            "DELETE FROM idempotency_keys WHERE key = ? AND lease = ? AND answer IS NULL", (key, lease)
        )
