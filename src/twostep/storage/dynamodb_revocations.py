"""The revocation list in DynamoDB: one item per ended session in the `REVOKED` partition.

`REVOKED` / `<revoked_at µs, zero padded>#<session id>`, TTL two days (far past any access token).
Reading it is one consistent Query on a key range, paged; this module imports only the client
wrapper so the Lambda authorizer can read the list without the rest of the storage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twostep.domain.revocation import Revocation
from twostep.storage.dynamodb_client import (
    DynamoCalls,
    deserialize,
    serialize,
    to_datetime,
    to_number,
    ttl_after,
)

PARTITION = "REVOKED"
TTL_SECONDS = 2 * 86400


def revocation_item(session_id: str, now: datetime) -> dict[str, Any]:
    return {
        "PK": PARTITION,
        "SK": f"{round(now.timestamp() * 1_000_000):020d}#{session_id}",
        "session_id": session_id,
        "revoked_at": to_number(now),
        "ttl": ttl_after(now, TTL_SECONDS),
    }


def read_revocations(calls: DynamoCalls, table: str, since: datetime) -> list[Revocation]:
    """Every entry from `since` on (all pages). Raises: StorageUnavailable."""
    lower = f"{round(since.timestamp() * 1_000_000):020d}"
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :p AND SK >= :s",
        "ExpressionAttributeValues": serialize({":p": PARTITION, ":s": lower}),
        "ProjectionExpression": "session_id, revoked_at",
        "ConsistentRead": True,
    }
    found: list[Revocation] = []
    while True:
        answer = calls.call("query", **query)
        for raw in answer.get("Items", []):
            item = deserialize(raw)
            found.append(Revocation(str(item["session_id"]), to_datetime(item["revoked_at"])))
        if "LastEvaluatedKey" not in answer:
            return found
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


class DynamoRevocationReader:
    """The list alone, over a boto3 DynamoDB client (the authorizer's reader)."""

    def __init__(self, client: Any, table: str) -> None:
        self._calls = DynamoCalls(client)
        self._table = table

    def list_revocations(self, since: datetime) -> list[Revocation]:
        return read_revocations(self._calls, self._table, since)
