"""Atomic counters with a window: `ADD` while the window is live, a conditional restart once it passed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from twostep.domain.errors import StorageUnavailable
from twostep.domain.ports import Counter
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import ConditionFailed, deserialize, to_datetime, to_number, ttl_after
from twostep.storage.dynamodb_client import key as key_of

RESTART_RACE_RETRIES = 8


class CounterOps(TableOps):
    """Counter methods of `DynamoDbStorage`."""

    def _counter_pk(self, key: str) -> str:
        """Counter keys name phone numbers and emails: with KMS on, only their keyed hash is stored."""
        cipher = self._codec.cipher
        return f"COUNTER#{cipher.index(key) if cipher else key}"

    def increment_counter(self, key: str, amount: int, now: datetime, expires_at: datetime) -> int:
        """Add to a live counter, or start it again; both steps are single conditional writes.

        Raises:
            StorageUnavailable: DynamoDB is unreachable, or the counter kept changing under us.
        """
        values = {
            ":a": amount,
            ":now": to_number(now),
            ":e": to_number(expires_at),
            ":ttl": ttl_after(expires_at, 60),
        }
        for _ in range(RESTART_RACE_RETRIES):
            try:  # live or missing: add, keeping the window of a live counter
                item = self._update(
                    self._counter_pk(key),
                    "COUNTER",
                    "ADD v :a SET expires_at = if_not_exists(expires_at, :e), #ttl = if_not_exists(#ttl, :ttl)",
                    values,
                    ConditionExpression="attribute_not_exists(PK) OR expires_at > :now",
                    ExpressionAttributeNames={"#ttl": "ttl"},
                    ReturnValues="ALL_NEW",
                )
                return int(item["v"])
            except ConditionFailed:
                pass
            try:  # expired: restart the window, unless another caller restarted it first
                item = self._update(
                    self._counter_pk(key),
                    "COUNTER",
                    "SET v = :a, expires_at = :e, #ttl = :ttl",
                    values,
                    ConditionExpression="expires_at <= :now",
                    ExpressionAttributeNames={"#ttl": "ttl"},
                    ReturnValues="ALL_NEW",
                )
                return int(item["v"])
            except ConditionFailed:
                continue
        raise StorageUnavailable("A counter kept changing; try again.")

    def get_counter(self, key: str, now: datetime) -> Counter | None:
        item = self._get(self._counter_pk(key), "COUNTER")
        if item is None or to_datetime(item["expires_at"]) <= now:
            return None
        return Counter(int(item["v"]), to_datetime(item["expires_at"]))

    def get_counters(self, keys: Sequence[str], now: datetime) -> dict[str, Counter]:
        """One BatchGetItem (strongly consistent); keys DynamoDB leaves unprocessed are read one by one."""
        if len(keys) <= 1:
            live = {k: self.get_counter(k, now) for k in keys}
            return {k: counter for k, counter in live.items() if counter is not None}
        by_pk = {self._counter_pk(k): k for k in keys}
        request = {"Keys": [key_of(pk, "COUNTER") for pk in by_pk], "ConsistentRead": True}
        answer: Any = self._calls.call("batch_get_item", RequestItems={self._table: request})
        items = [deserialize(item) for item in answer.get("Responses", {}).get(self._table, [])]
        found: dict[str, Counter] = {}
        for item in items:
            if to_datetime(item["expires_at"]) > now:
                found[by_pk[str(item["PK"])]] = Counter(int(item["v"]), to_datetime(item["expires_at"]))
        for left in answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", []):
            name = by_pk[deserialize(left)["PK"]]
            counter = self.get_counter(name, now)
            if counter is not None:
                found[name] = counter
        return found

    def delete_counter(self, key: str) -> None:
        self._calls.call("delete_item", TableName=self._table, Key=key_of(self._counter_pk(key), "COUNTER"))
