"""DynamoDB: the shared key record (one item, replaced only over the version read) and housekeeping.

Codes, refresh tokens and counters carry a TTL attribute, so DynamoDB deletes them itself once expired
(expiry is still checked in code: TTL deletes lag). The console outbox and the audit trail are single
partitions sorted by time, so a purge reads the oldest items with one bounded Query each and deletes
them in batches: no Scan, and nothing on a request path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twostep.domain.ports import KeyRecord, PurgeRules
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import (
    ConditionFailed,
    key,
    serialize,
    time_prefix,
    to_datetime,
    to_number,
)

BATCH_WRITE_LIMIT = 25  # DynamoDB's items per BatchWriteItem


class UpkeepOps(TableOps):
    expired_by_backend: frozenset[str] = frozenset(
        {
            "challenges",
            "refresh_tokens",
            "counters",
            "sessions",
            "revocations",
            "webauthn_ceremonies",
            "remembered_devices",
            "prefix_blocks",
            "deliveries",
            "idempotency_keys",
        }
    )

    # --- shared keys ---
    def get_key_record(self) -> KeyRecord | None:
        item = self._get("KEYS", "KEYS")
        if item is None:
            return None
        return KeyRecord(
            int(item["version"]), item["sealed"], item["master_key_id"], to_datetime(item["updated_at"])
        )

    def put_key_record(self, record: KeyRecord, replaces: int | None) -> bool:
        item = {
            "PK": "KEYS",
            "SK": "KEYS",
            "version": record.version,
            "sealed": record.sealed,
            "master_key_id": record.master_key_id,
            "updated_at": to_number(record.updated_at),
        }
        try:
            if replaces is None:
                self._put(item, "attribute_not_exists(PK)")
            else:
                self._calls.call(
                    "put_item",
                    TableName=self._table,
                    Item=serialize(item),
                    ConditionExpression="version = :v",
                    ExpressionAttributeValues=serialize({":v": replaces}),
                )
        except ConditionFailed:
            return False
        return True

    # --- housekeeping ---
    def purge_expired(self, rules: PurgeRules) -> dict[str, int]:
        return {
            "challenges": 0,
            "refresh_tokens": 0,
            "counters": 0,  # these three (and the two last): DynamoDB's TTL
            "outbox": self._purge_partition("OUTBOX", rules.outbox_before, rules.limit),
            "audit": self._purge_partition("AUDIT", rules.audit_before, rules.limit),
            "sessions": 0,
            "revocations": 0,
            "webauthn_ceremonies": 0,
            "remembered_devices": 0,
            "prefix_blocks": 0,
            "deliveries": 0,
            "idempotency_keys": 0,
        }

    def _purge_partition(self, partition: str, before: datetime, limit: int) -> int:
        items = self._query(
            "PK = :p AND SK < :s",
            {":p": partition, ":s": time_prefix(before)},
            limit,
            ProjectionExpression="PK, SK",
        )
        for start in range(0, len(items), BATCH_WRITE_LIMIT):
            chunk = items[start : start + BATCH_WRITE_LIMIT]
            requests = [{"DeleteRequest": {"Key": key(item["PK"], item["SK"])}} for item in chunk]
            answer: Any = self._calls.call("batch_write_item", RequestItems={self._table: requests})
            # Whatever DynamoDB left unprocessed (throttling) is still old: the next run takes it.
            unprocessed = len(answer.get("UnprocessedItems", {}).get(self._table, []))
            items_deleted = len(chunk) - unprocessed
            if unprocessed:
                return start + items_deleted
        return len(items)
