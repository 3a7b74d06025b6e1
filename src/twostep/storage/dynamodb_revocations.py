"""The revocation list in DynamoDB: one item per ended session in the `REVOKED` partition.

`REVOKED` / `<revoked_at µs, zero padded>#<session id>`, TTL two days (far past any access token).
Reading it is one consistent Query on a key range, paged (`dynamodb_revocation_query`, which the
Lambda authorizer also sends without boto3); this module imports only the client wrapper.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twostep.domain.revocation import Revocation
from twostep.storage.dynamodb_client import DynamoCalls, to_number, ttl_after
from twostep.storage.dynamodb_revocation_query import PARTITION, read_revocations_with, sort_key_at

TTL_SECONDS = 2 * 86400


def revocation_item(session_id: str, now: datetime) -> dict[str, Any]:
    return {
        "PK": PARTITION,
        "SK": f"{sort_key_at(now)}#{session_id}",
        "session_id": session_id,
        "revoked_at": to_number(now),
        "ttl": ttl_after(now, TTL_SECONDS),
    }


def read_revocations(calls: DynamoCalls, table: str, since: datetime) -> list[Revocation]:
    """Every entry from `since` on (all pages). Raises: StorageUnavailable."""
    return read_revocations_with(lambda query: calls.call("query", **query), table, since)


class DynamoRevocationReader:
    """The list alone, over a boto3 DynamoDB client (the authorizer's reader)."""

    def __init__(self, client: Any, table: str) -> None:
        self._calls = DynamoCalls(client)
        self._table = table

    def list_revocations(self, since: datetime) -> list[Revocation]:
        return read_revocations(self._calls, self._table, since)
