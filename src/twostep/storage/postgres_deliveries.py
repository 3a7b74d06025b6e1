"""PostgreSQL: delivery records (one row per sent message; its status only moves to a later stage)."""

from __future__ import annotations

from datetime import datetime

from twostep.domain.receipts import Delivery, DeliveryStatus, delivery_key, stage_of
from twostep.storage.postgres_connection import PostgresConnections, Row


def _delivery(row: Row) -> Delivery:
    return Delivery(
        provider=row["provider"],
        message_id=row["message_id"],
        challenge_id=row["challenge_id"],
        channel=row["channel"],
        status=row["status"],
        sent_at=row["sent_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
        error_code=row["error_code"],
    )


class PostgresDeliveries(PostgresConnections):
    def add_delivery(self, delivery: Delivery) -> None:
        d = delivery
        self._execute(
            "INSERT INTO deliveries (id, provider, message_id, challenge_id, channel, status, stage, error_code,"
            " sent_at, updated_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                d.key,
                d.provider,
                d.message_id,
                d.challenge_id,
                d.channel,
                d.status,
                stage_of(d.status),
                d.error_code,
                d.sent_at,
                d.updated_at,
                d.expires_at,
            ),
        )

    def get_delivery(self, provider: str, message_id: str) -> Delivery | None:
        row = self._one("SELECT * FROM deliveries WHERE id = %s", (delivery_key(provider, message_id),))
        return None if row is None else _delivery(row)

    def advance_delivery(
        self, provider: str, message_id: str, status: DeliveryStatus, error_code: str | None, at: datetime
    ) -> Delivery | None:
        row = self._one(
            "UPDATE deliveries SET status = %s, stage = %s, error_code = %s, updated_at = %s"
            " WHERE id = %s AND stage < %s RETURNING *",
            (status, stage_of(status), error_code, at, delivery_key(provider, message_id), stage_of(status)),
        )
        return None if row is None else _delivery(row)

    def latest_delivery(self, challenge_id: str) -> Delivery | None:
        row = self._one(
            "SELECT * FROM deliveries WHERE challenge_id = %s ORDER BY sent_at DESC LIMIT 1", (challenge_id,)
        )
        return None if row is None else _delivery(row)
