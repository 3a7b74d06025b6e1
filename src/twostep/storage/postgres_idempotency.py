"""PostgreSQL: `Idempotency-Key` records (one row per key; a live claim or answer wins over a new claim)."""

from __future__ import annotations

from datetime import datetime

from twostep.domain.idempotency import IdempotencyRecord
from twostep.storage.postgres_connection import PostgresConnections, Row


def _record(row: Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=row["key"],
        fingerprint=row["fingerprint"],
        lease=row["lease"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        locked_until=row["locked_until"],
        answer=row["answer"],
    )


class PostgresIdempotency(PostgresConnections):
    def claim_idempotency_key(self, record: IdempotencyRecord) -> bool:
        # Insert, or take over an expired or abandoned row; under READ COMMITTED a racing insert waits
        # for the row lock and re-checks the WHERE, so exactly one caller holds the key.
        row = self._one(
            "INSERT INTO idempotency_keys AS k (key, fingerprint, lease, created_at, expires_at, locked_until)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
            " lease = EXCLUDED.lease, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,"
            " locked_until = EXCLUDED.locked_until, answer = NULL"
            " WHERE k.expires_at <= EXCLUDED.created_at"
            " OR (k.answer IS NULL AND k.locked_until <= EXCLUDED.created_at)"
            " RETURNING key",
            (
                record.key,
                record.fingerprint,
                record.lease,
                record.created_at,
                record.expires_at,
                record.locked_until,
            ),
        )
        return row is not None

    def get_idempotency_record(self, key: str, now: datetime) -> IdempotencyRecord | None:
        row = self._one("SELECT * FROM idempotency_keys WHERE key = %s AND expires_at > %s", (key, now))
        return None if row is None else _record(row)

    def save_idempotent_answer(self, key: str, lease: str, answer: str) -> bool:
        updated = self._execute(
            "UPDATE idempotency_keys SET answer = %s WHERE key = %s AND lease = %s AND answer IS NULL",
            (answer, key, lease),
        )
        return updated > 0

    def release_idempotency_key(self, key: str, lease: str) -> None:
        self._execute(
            "DELETE FROM idempotency_keys WHERE key = %s AND lease = %s AND answer IS NULL", (key, lease)
        )
