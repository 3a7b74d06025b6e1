"""SQLite: delivery records (one row per sent message; its status only moves to a later stage).

The SQL is shared with PostgreSQL (`deliveries_sql`); here: `?` placeholders, moments as UNIX seconds.
"""

from __future__ import annotations

from datetime import datetime

from twostep.domain.receipts import Delivery, DeliveryStatus, delivery_key
from twostep.storage import deliveries_sql as shared
from twostep.storage.sqlite_connection import SqliteConnections, epoch, moment

SQL = shared.DeliverySql.with_placeholder("?")


class SqliteDeliveries(SqliteConnections):
    def add_delivery(self, delivery: Delivery) -> None:
        self._execute(SQL.add, shared.values(delivery, epoch))

    def get_delivery(self, provider: str, message_id: str) -> Delivery | None:
        row = self._one(SQL.get, (delivery_key(provider, message_id),))
        return None if row is None else shared.delivery(row, moment)

    def advance_delivery(
        self, provider: str, message_id: str, status: DeliveryStatus, error_code: str | None, at: datetime
    ) -> Delivery | None:
        row = self._one(
            SQL.advance, shared.advance_values(provider, message_id, status, error_code, epoch(at))
        )
        return None if row is None else shared.delivery(row, moment)

    def latest_delivery(self, challenge_id: str) -> Delivery | None:
        row = self._one(SQL.latest, (challenge_id,))
        return None if row is None else shared.delivery(row, moment)
