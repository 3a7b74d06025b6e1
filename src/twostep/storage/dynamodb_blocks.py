"""DynamoDB: the fraud guard's prefix blocks.

One item per prefix, `PK = PREFIXBLOCK#<prefix>`, `SK = BLOCK`, listed through the sparse index
(`GSI1PK = PREFIXBLOCKS`): a handful of live items (ended ones until their TTL), read only by
`twostep fraud status`. A prefix is a number block, not a person's number, so it is stored as is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twostep.domain.ports import PrefixBlock
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import ConditionFailed, serialize, to_datetime, to_number
from twostep.storage.dynamodb_client import key as key_of
from twostep.storage.dynamodb_schema import GSI1

LIST_PARTITION = "PREFIXBLOCKS"


def block_pk(prefix: str) -> str:
    """The partition of `prefix`'s block."""
    return f"PREFIXBLOCK#{prefix}"


def _block(item: dict[str, Any]) -> PrefixBlock:
    return PrefixBlock(
        prefix=str(item["prefix"]),
        blocked_at=to_datetime(item["blocked_at"]),
        until=to_datetime(item["until"]),
        sent=int(item["sent"]),
        verified=int(item["verified"]),
    )


class PrefixBlockOps(TableOps):
    """Prefix block methods of `DynamoDbStorage`."""

    def add_prefix_block(self, block: PrefixBlock) -> bool:
        item = {
            "PK": block_pk(block.prefix),
            "SK": "BLOCK",
            "GSI1PK": LIST_PARTITION,
            "GSI1SK": block.prefix,
            "prefix": block.prefix,
            "blocked_at": to_number(block.blocked_at),
            "until": to_number(block.until),
            "sent": block.sent,
            "verified": block.verified,
            "ttl": self._codec.retention.ended(block.until),
        }
        try:
            # A put with a condition on the old item: only an absent or expired block is replaced.
            self._calls.call(
                "put_item",
                TableName=self._table,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(PK) OR #until <= :at",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=serialize({":at": to_number(block.blocked_at)}),
            )
        except ConditionFailed:
            return False
        return True

    def get_prefix_block(self, prefix: str, now: datetime) -> PrefixBlock | None:
        item = self._get(block_pk(prefix), "BLOCK")
        if item is None or to_datetime(item["until"]) <= now:
            return None
        return _block(item)

    def list_prefix_blocks(self, now: datetime) -> list[PrefixBlock]:
        """Every page, filtered by DynamoDB: ended blocks stay listed until their TTL (a day on), and one
        page of them hid the live blocks behind it."""
        items = self._query_all(
            "GSI1PK = :p",
            {":p": LIST_PARTITION, ":now": to_number(now)},
            IndexName=GSI1,
            FilterExpression="#until > :now",
            ExpressionAttributeNames={"#until": "until"},
        )
        return [_block(item) for item in items]

    def delete_prefix_block(self, prefix: str) -> bool:
        answer = self._calls.call(
            "delete_item",
            TableName=self._table,
            Key=key_of(block_pk(prefix), "BLOCK"),
            ReturnValues="ALL_OLD",
        )
        return bool(answer.get("Attributes"))
