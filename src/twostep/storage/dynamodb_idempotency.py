"""DynamoDB: `Idempotency-Key` records.

One item per key, `PK = IDEMPOTENCY#<hmac>`, `SK = IDEMPOTENCY`, with a TTL at its `expires_at`: DynamoDB
deletes it itself (expiry is still checked in code, TTL deletes lag). Claims, answers and releases are
each one conditional write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twostep.domain.idempotency import IdempotencyRecord
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import ConditionFailed, serialize, to_datetime, to_number, ttl_after
from twostep.storage.dynamodb_client import key as key_of

SORT_KEY = "IDEMPOTENCY"
NAMES = {"#answer": "answer", "#lease": "lease"}


def _pk(key: str) -> str:
    return f"IDEMPOTENCY#{key}"


def _record(item: dict[str, Any]) -> IdempotencyRecord:
    answer = item.get("answer")
    return IdempotencyRecord(
        key=str(item["key"]),
        fingerprint=str(item["fingerprint"]),
        lease=str(item["lease"]),
        created_at=to_datetime(item["created_at"]),
        expires_at=to_datetime(item["expires_at"]),
        locked_until=to_datetime(item["locked_until"]),
        answer=None if answer is None else str(answer),
    )


class IdempotencyOps(TableOps):
    """`Idempotency-Key` methods of `DynamoDbStorage`."""

    def claim_idempotency_key(self, record: IdempotencyRecord) -> bool:
        item = {
            "PK": _pk(record.key),
            "SK": SORT_KEY,
            "key": record.key,
            "fingerprint": record.fingerprint,
            "lease": record.lease,
            "created_at": to_number(record.created_at),
            "expires_at": to_number(record.expires_at),
            "locked_until": to_number(record.locked_until),
            "ttl": ttl_after(record.expires_at, 0),
        }
        try:
            self._calls.call(
                "put_item",
                TableName=self._table,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(PK) OR #expires <= :at"
                " OR (attribute_not_exists(#answer) AND #locked <= :at)",
                ExpressionAttributeNames={
                    "#expires": "expires_at",
                    "#answer": "answer",
                    "#locked": "locked_until",
                },
                ExpressionAttributeValues=serialize({":at": to_number(record.created_at)}),
            )
        except ConditionFailed:
            return False
        return True

    def get_idempotency_record(self, key: str, now: datetime) -> IdempotencyRecord | None:
        item = self._get(_pk(key), SORT_KEY)
        if item is None or to_datetime(item["expires_at"]) <= now:
            return None
        return _record(item)

    def save_idempotent_answer(self, key: str, lease: str, answer: str) -> bool:
        try:
            self._update(
                _pk(key),
                SORT_KEY,
                "SET #answer = :a",
                {":a": answer, ":l": lease},
                ConditionExpression="#lease = :l AND attribute_not_exists(#answer)",
                ExpressionAttributeNames=NAMES,
            )
        except ConditionFailed:
            return False
        return True

    def release_idempotency_key(self, key: str, lease: str) -> None:
        try:
            self._calls.call(
                "delete_item",
                TableName=self._table,
                Key=key_of(_pk(key), SORT_KEY),
                ConditionExpression="#lease = :l AND attribute_not_exists(#answer)",
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues=serialize({":l": lease}),
            )
        except ConditionFailed:
            return  # answered meanwhile, or another request's claim now: not ours to drop
