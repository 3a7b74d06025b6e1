"""SQLite: `Idempotency-Key` records (one row per key; a live claim or answer wins over a new claim).

The SQL is shared with PostgreSQL (`idempotency_sql`); here: `?` placeholders, moments as UNIX
seconds, and the changed rows from the cursor's `rowcount`.
"""

from __future__ import annotations

from datetime import datetime

from twostep.domain.idempotency import IdempotencyRecord
from twostep.storage import idempotency_sql as shared
from twostep.storage.sqlite_connection import SqliteConnections, epoch, moment

SQL = shared.IdempotencySql.with_placeholder("?")


class SqliteIdempotency(SqliteConnections):
    def claim_idempotency_key(self, record: IdempotencyRecord) -> bool:
        return self._one(SQL.claim, shared.claim_values(record, epoch)) is not None

    def get_idempotency_record(self, key: str, now: datetime) -> IdempotencyRecord | None:
        row = self._one(SQL.get, (key, epoch(now)))
        return None if row is None else shared.record(row, moment)

    def save_idempotent_answer(self, key: str, lease: str, answer: str) -> bool:
        return self._execute(SQL.save_answer, (answer, key, lease)).rowcount > 0

    def release_idempotency_key(self, key: str, lease: str) -> None:
        self._execute(SQL.release, (key, lease))
