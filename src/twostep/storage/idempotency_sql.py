"""`Idempotency-Key` records in SQL, written once for the relational backends (SQLite and PostgreSQL).

Each backend keeps its own `*_idempotency.py` with what differs between them, in plain sight: the
driver's placeholder (`?` or `%s`), how a moment is stored (SQLite: UNIX seconds in a REAL;
PostgreSQL: a `timestamptz`) and how a driver reports the rows an UPDATE changed. The table is
migration step 12's (`schema_idempotency.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twostep.domain.idempotency import IdempotencyRecord
from twostep.storage.deliveries_sql import Row

# `{p}` stands for the driver's placeholder; only these constants and the placeholder make the text.
# A claim inserts, or takes over an expired or abandoned row; a live one stays and RETURNING yields
# nothing. Both dialects name the existing row by its table in the DO UPDATE's WHERE. On PostgreSQL
# (READ COMMITTED) a racing insert waits for the row lock and re-checks that WHERE; SQLite runs one
# writer at a time: either way exactly one caller holds the key.
_CLAIM = (
    "INSERT INTO idempotency_keys (key, fingerprint, lease, created_at, expires_at, locked_until)"
    " VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint,"
    " lease = excluded.lease, created_at = excluded.created_at, expires_at = excluded.expires_at,"
    " locked_until = excluded.locked_until, answer = NULL"
    " WHERE idempotency_keys.expires_at <= excluded.created_at"
    " OR (idempotency_keys.answer IS NULL AND idempotency_keys.locked_until <= excluded.created_at)"
    " RETURNING key"
)
_GET = "SELECT * FROM idempotency_keys WHERE key = {p} AND expires_at > {p}"
_SAVE_ANSWER = "UPDATE idempotency_keys SET answer = {p} WHERE key = {p} AND lease = {p} AND answer IS NULL"
_RELEASE = "DELETE FROM idempotency_keys WHERE key = {p} AND lease = {p} AND answer IS NULL"


@dataclass(frozen=True, slots=True)
class IdempotencySql:
    """The statements of the `Idempotency-Key` port with one driver's placeholder."""

    claim: str  # parameters: `claim_values`; RETURNING the key only when this call holds it
    get: str  # parameters: key, now (stored)
    save_answer: str  # parameters: answer, key, lease
    release: str  # parameters: key, lease

    @classmethod
    def with_placeholder(cls, p: str) -> IdempotencySql:
        return cls(
            claim=_CLAIM.format(p=p),
            get=_GET.format(p=p),
            save_answer=_SAVE_ANSWER.format(p=p),
            release=_RELEASE.format(p=p),
        )


def claim_values(record: IdempotencyRecord, stored: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The parameters of `IdempotencySql.claim`, with each moment as `stored` makes it."""
    return (
        record.key,
        record.fingerprint,
        record.lease,
        stored(record.created_at),
        stored(record.expires_at),
        stored(record.locked_until),
    )


def record(row: Row, moment: Callable[[Any], datetime]) -> IdempotencyRecord:
    """The record of a row, each stored moment read back by `moment`."""
    return IdempotencyRecord(
        key=row["key"],
        fingerprint=row["fingerprint"],
        lease=row["lease"],
        created_at=moment(row["created_at"]),
        expires_at=moment(row["expires_at"]),
        locked_until=moment(row["locked_until"]),
        answer=row["answer"],
    )
