"""Delivery records in SQL, written once for the relational backends (SQLite and PostgreSQL).

Each backend keeps its own `*_deliveries.py` with what differs between them, in plain sight: the
driver's placeholder (`?` or `%s`) and how a moment is stored (SQLite: UNIX seconds in a REAL;
PostgreSQL: a `timestamptz`, so datetimes go in and come out as they are). The table is migration
step 13's (`schema_deliveries.py`), its `language` column step 16's, `tenant` step 18's; `stage` orders the statuses, so
"only forward" is one conditional `UPDATE … WHERE stage < ?`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from twostep.domain.receipts import Delivery, DeliveryStatus, delivery_key, stage_of

COLUMNS = (
    "id",
    "provider",
    "message_id",
    "challenge_id",
    "channel",
    "status",
    "stage",
    "error_code",
    "sent_at",
    "updated_at",
    "expires_at",
    "language",
    "tenant",
)


class Row(Protocol):
    """A result row by column name (`sqlite3.Row`, psycopg's dict rows)."""

    def __getitem__(self, key: str, /) -> Any: ...


# `{p}` stands for the driver's placeholder; only these constants and the placeholder make the text.
_ADD = "INSERT INTO deliveries ({columns}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING"
_GET = "SELECT * FROM deliveries WHERE id = {p}"
_ADVANCE = (
    "UPDATE deliveries SET status = {p}, stage = {p}, error_code = {p}, updated_at = {p}"
    " WHERE id = {p} AND stage < {p} RETURNING *"
)
_LATEST = "SELECT * FROM deliveries WHERE challenge_id = {p} ORDER BY sent_at DESC LIMIT 1"


@dataclass(frozen=True, slots=True)
class DeliverySql:
    """The statements of the delivery-record port with one driver's placeholder."""

    add: str  # parameters: `values`
    get: str  # parameters: the record's key
    advance: str  # parameters: `advance_values`; RETURNING the moved row, none when it would go back
    latest: str  # parameters: the challenge id

    @classmethod
    def with_placeholder(cls, p: str) -> DeliverySql:
        marks = ", ".join([p] * len(COLUMNS))
        return cls(
            add=_ADD.format(columns=", ".join(COLUMNS), marks=marks),
            get=_GET.format(p=p),
            advance=_ADVANCE.format(p=p),
            latest=_LATEST.format(p=p),
        )


def values(delivery: Delivery, stored: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The new row in `COLUMNS` order, with each moment as `stored` makes it."""
    d = delivery
    return (
        d.key,
        d.provider,
        d.message_id,
        d.challenge_id,
        d.channel,
        d.status,
        stage_of(d.status),
        d.error_code,
        stored(d.sent_at),
        stored(d.updated_at),
        stored(d.expires_at),
        d.language,
        d.tenant,
    )


def advance_values(
    provider: str, message_id: str, status: DeliveryStatus, error_code: str | None, stored_at: Any
) -> tuple[Any, ...]:
    """The parameters of `DeliverySql.advance`; `stored_at` is the moment as the backend stores it."""
    stage = stage_of(status)
    return (status, stage, error_code, stored_at, delivery_key(provider, message_id), stage)


def delivery(row: Row, moment: Callable[[Any], datetime]) -> Delivery:
    """The record of a row, each stored moment read back by `moment`."""
    return Delivery(
        provider=row["provider"],
        message_id=row["message_id"],
        challenge_id=row["challenge_id"],
        channel=row["channel"],
        status=row["status"],
        sent_at=moment(row["sent_at"]),
        updated_at=moment(row["updated_at"]),
        expires_at=moment(row["expires_at"]),
        error_code=row["error_code"],
        language=row["language"],
        tenant=row["tenant"],
    )
