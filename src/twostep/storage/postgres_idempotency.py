"""PostgreSQL: `Idempotency-Key` records (one row per key; a live claim or answer wins over a new claim).

The SQL is shared with SQLite (`idempotency_sql`); here: `%s` placeholders, moments as datetimes
(`timestamptz` columns), and `_execute` answering the number of changed rows itself.
"""

from __future__ import annotations

from datetime import datetime

from twostep.domain.idempotency import IdempotencyRecord
from twostep.storage import idempotency_sql as shared
from twostep.storage.postgres_connection import PostgresConnections, as_is

SQL = shared.IdempotencySql.with_placeholder("%s")


class PostgresIdempotency(PostgresConnections):
    def claim_idempotency_key(self, record: IdempotencyRecord) -> bool:
        return self._one(SQL.claim, shared.claim_values(record, as_is)) is not None

    def get_idempotency_record(self, key: str, now: datetime) -> IdempotencyRecord | None:
        row = self._one(SQL.get, (key, now))
        return None if row is None else shared.record(row, as_is)

    def save_idempotent_answer(self, key: str, lease: str, answer: str) -> bool:
        return self._execute(SQL.save_answer, (answer, key, lease)) > 0

    def release_idempotency_key(self, key: str, lease: str) -> None:
        self._execute(SQL.release, (key, lease))
