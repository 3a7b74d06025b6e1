"""The table definition, for `init_schema` (local and test use; on AWS the SAM template creates it)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError

from twostep.domain.errors import StorageUnavailable
from twostep.storage.dynamodb_client import ConditionFailed, DynamoCalls, key

GSI1 = "GSI1"


def table_definition(name: str) -> dict[str, Any]:
    """The same keys, index and billing mode as `AuthTable` in template.yaml."""
    attributes = ("PK", "SK", "GSI1PK", "GSI1SK")
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                    {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def table_exists(calls: DynamoCalls, name: str) -> bool:
    """A data-plane probe (one GetItem), so the Lambda role needs no DescribeTable."""
    try:
        calls.call("get_item", TableName=name, Key=key("HEALTH", "HEALTH"))
    except StorageUnavailable as exc:
        if "does not exist" in exc.message:
            return False
        raise
    return True


def create_table(calls: DynamoCalls, name: str) -> None:
    """Create the table with TTL on `ttl`; a table created meanwhile by someone else is fine.

    Raises:
        StorageUnavailable: DynamoDB refused or could not be reached.
    """
    try:
        calls.call("create_table", **table_definition(name))
    except (StorageUnavailable, ConditionFailed) as exc:
        if not table_exists(calls, name):
            raise StorageUnavailable("The DynamoDB table could not be created.") from exc
        return  # created by a concurrent init, which also turns TTL on
    try:
        calls.client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    except BotoCoreError as exc:
        raise StorageUnavailable("The DynamoDB table did not become ready.") from exc
    calls.call(
        "update_time_to_live",
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
    )
