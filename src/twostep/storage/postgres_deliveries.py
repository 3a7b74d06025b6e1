"""PostgreSQL: delivery records (one row per sent message; its status only moves to a later stage).

The SQL is shared with SQLite (`deliveries_sql`); here: `%s` placeholders, and moments go in and come
out as datetimes (`timestamptz` columns).
"""

from __future__ import annotations

from datetime import datetime

from twostep.domain.receipts import Delivery, DeliveryStatus, delivery_key
from twostep.storage import deliveries_sql as shared
from twostep.storage.postgres_connection import PostgresConnections, as_is

SQL = shared.DeliverySql.with_placeholder("%s")


class PostgresDeliveries(PostgresConnections):
    def add_delivery(self, delivery: Delivery) -> None:
        self._execute(SQL.add, shared.values(delivery, as_is))

    def get_delivery(self, provider: str, message_id: str) -> Delivery | None:
        row = self._one(SQL.get, (delivery_key(provider, message_id),))
        return None if row is None else shared.delivery(row, as_is)

    def advance_delivery(
        self, provider: str, message_id: str, status: DeliveryStatus, error_code: str | None, at: datetime
    ) -> Delivery | None:
        row = self._one(SQL.advance, shared.advance_values(provider, message_id, status, error_code, at))
        return None if row is None else shared.delivery(row, as_is)

    def latest_delivery(self, challenge_id: str) -> Delivery | None:
        row = self._one(SQL.latest, (challenge_id,))
        return None if row is None else shared.delivery(row, as_is)
