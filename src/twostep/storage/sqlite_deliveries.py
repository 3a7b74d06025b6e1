"""SQLite: delivery records (one row per sent message; its status only moves to a later stage)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from twostep.domain.receipts import Delivery, DeliveryStatus, delivery_key, stage_of
from twostep.storage.sqlite_connection import SqliteConnections, epoch, moment


def _delivery(row: sqlite3.Row) -> Delivery:
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
    )


class SqliteDeliveries(SqliteConnections):
    def add_delivery(self, delivery: Delivery) -> None:
        d = delivery
        self._execute(
            "INSERT INTO deliveries (id, provider, message_id, challenge_id, channel, status, stage, error_code,"
            " sent_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                d.key,
                d.provider,
                d.message_id,
                d.challenge_id,
                d.channel,
                d.status,
                stage_of(d.status),
                d.error_code,
                epoch(d.sent_at),
                epoch(d.updated_at),
                epoch(d.expires_at),
            ),
        )

    def get_delivery(self, provider: str, message_id: str) -> Delivery | None:
        row = self._one("SELECT * FROM deliveries WHERE id = ?", (delivery_key(provider, message_id),))
        return None if row is None else _delivery(row)

    def advance_delivery(
        self, provider: str, message_id: str, status: DeliveryStatus, error_code: str | None, at: datetime
    ) -> Delivery | None:
        row = self._one(
            "UPDATE deliveries SET status = ?, stage = ?, error_code = ?, updated_at = ?"
            " WHERE id = ? AND stage < ? RETURNING *",
            (
                status,
                stage_of(status),
                error_code,
                epoch(at),
                delivery_key(provider, message_id),
                stage_of(status),
            ),
        )
        return None if row is None else _delivery(row)

    def latest_delivery(self, challenge_id: str) -> Delivery | None:
        row = self._one(
            "SELECT * FROM deliveries WHERE challenge_id = ? ORDER BY sent_at DESC LIMIT 1", (challenge_id,)
        )
        return None if row is None else _delivery(row)
