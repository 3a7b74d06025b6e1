"""Delivery records in memory (see domain/receipts.py); every method holds the storage's one lock."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from twostep.domain.receipts import Delivery, DeliveryStatus, delivery_key, stage_of


class MemoryDeliveries:
    _lock: threading.RLock

    def _init_deliveries(self) -> None:
        self._deliveries: dict[str, Delivery] = {}

    def add_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.setdefault(delivery.key, delivery)

    def get_delivery(self, provider: str, message_id: str) -> Delivery | None:
        return self._deliveries.get(delivery_key(provider, message_id))

    def advance_delivery(
        self, provider: str, message_id: str, status: DeliveryStatus, error_code: str | None, at: datetime
    ) -> Delivery | None:
        key = delivery_key(provider, message_id)
        with self._lock:
            current = self._deliveries.get(key)
            if current is None or stage_of(current.status) >= stage_of(status):
                return None
            moved = self._deliveries[key] = replace(
                current, status=status, error_code=error_code, updated_at=at
            )
            return moved

    def latest_delivery(self, challenge_id: str) -> Delivery | None:
        with self._lock:
            mine = [d for d in self._deliveries.values() if d.challenge_id == challenge_id]
        return max(mine, key=lambda d: d.sent_at, default=None)
