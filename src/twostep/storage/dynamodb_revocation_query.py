"""Reading the revocation list from DynamoDB, in the API's own JSON: the `Query` and its items.

No boto3 here: the storage reads the list through a boto3 client (`dynamodb_revocations`), the
authorizer through a signed request of its own (`aws.signed_calls`), and both send this query and read
its items this way. boto3's low-level client takes and returns attribute values as the API spells them
(`{"S": …}`, `{"N": "…"}`), so one spelling serves both.
"""

from __future__ import annotations

from datetime import UTC, datetime

from twostep.domain.cold_start_typing import TYPE_CHECKING
from twostep.domain.revocation import Revocation

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    QueryPage = Callable[[dict[str, Any]], Mapping[str, Any]]  # one Query call: its parameters to its answer

PARTITION = "REVOKED"


def sort_key_at(moment: datetime) -> str:
    """The sort key's time part: microseconds since the epoch, zero padded so keys sort by time."""
    return f"{round(moment.timestamp() * 1_000_000):020d}"


def revocation_query(table: str, since: datetime) -> dict[str, Any]:
    """One consistent Query of every entry from `since` on."""
    return {
        "TableName": table,
        "KeyConditionExpression": "PK = :p AND SK >= :s",
        "ExpressionAttributeValues": {":p": {"S": PARTITION}, ":s": {"S": sort_key_at(since)}},
        "ProjectionExpression": "session_id, revoked_at",
        "ConsistentRead": True,
    }


def revocation_of(item: Mapping[str, Any]) -> Revocation:
    """An item as the Query returns it. Raises: KeyError, TypeError, ValueError for a malformed one."""
    revoked_at = datetime.fromtimestamp(float(item["revoked_at"]["N"]), tz=UTC)
    return Revocation(str(item["session_id"]["S"]), revoked_at)


def read_revocations_with(query_page: QueryPage, table: str, since: datetime) -> list[Revocation]:
    """Every entry from `since` on, over all pages. Raises: what `query_page` raises."""
    query = revocation_query(table, since)
    found: list[Revocation] = []
    while True:
        answer = query_page(query)
        found += [revocation_of(item) for item in answer.get("Items", [])]
        if "LastEvaluatedKey" not in answer:
            return found
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
