"""The table definition, for `init_schema` (local and test use; on AWS the SAM template creates it)."""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from twostep.domain.errors import ConfigurationError, StorageUnavailable
from twostep.storage.dynamodb_client import ConditionFailed, DynamoCalls, key, serialize

GSI1 = "GSI1"
TTL_ATTRIBUTE = "ttl"
# Written once the table's TTL was seen on: later starts read it instead of asking the control plane.
TTL_MARKER = ("CONFIG", "TIME_TO_LIVE")
# DynamoDB answers "ENABLING" for up to an hour after the switch; either way expired items will go.
TTL_ON = frozenset({"ENABLED", "ENABLING"})

logger = logging.getLogger("twostep.storage")


class TableState(Enum):
    MISSING = "missing"
    TTL_UNCONFIRMED = "ttl unconfirmed"  # exists; nobody has yet seen its TTL on
    READY = "ready"


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


def table_state(calls: DynamoCalls, name: str) -> TableState:
    """A data-plane probe (one GetItem of the TTL marker), so the Lambda role needs no DescribeTable."""
    try:
        answer = calls.call("get_item", TableName=name, Key=key(*TTL_MARKER), ConsistentRead=True)
    except StorageUnavailable as exc:
        if "does not exist" in exc.message:
            return TableState.MISSING
        raise
    return TableState.READY if "Item" in answer else TableState.TTL_UNCONFIRMED


def table_exists(calls: DynamoCalls, name: str) -> bool:
    return table_state(calls, name) is not TableState.MISSING


def create_table(calls: DynamoCalls, name: str) -> None:
    """Create the table with TTL on `ttl`; a table created meanwhile by someone else is fine (the next
    start checks its TTL).

    Raises:
        StorageUnavailable: DynamoDB refused or could not be reached.
    """
    try:
        calls.call("create_table", **table_definition(name))
    except (StorageUnavailable, ConditionFailed) as exc:
        if not table_exists(calls, name):
            raise StorageUnavailable("The DynamoDB table could not be created.") from exc
        return  # created by a concurrent init, which turns TTL on (or, interrupted, the next start)
    try:
        calls.client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    except BotoCoreError as exc:
        raise StorageUnavailable("The DynamoDB table did not become ready.") from exc
    ensure_time_to_live(calls, name)


def ensure_time_to_live(calls: DynamoCalls, name: str) -> None:
    """Turn TTL on where it is off, then mark the table so later starts skip the control plane.

    A first start interrupted between CreateTable and UpdateTimeToLive (a slow table, throttling) left a
    table whose codes, sessions and counters were never deleted; every start and `twostep storage migrate`
    call this until the marker is written. Idempotent, and safe when several processes run it at once.

    Raises:
        StorageUnavailable: DynamoDB refused or could not be reached.
        ConfigurationError: the table expires items by another attribute.
    """
    try:
        status = _ttl_status(calls, name)
    except _NotPermitted:
        # A role without control-plane rights (the SAM template's functions before they got
        # DescribeTimeToLive) cannot have created the table either; the template turns TTL on.
        logger.warning("cannot check the DynamoDB table's TTL (no dynamodb:DescribeTimeToLive); not marked")
        return
    if status not in TTL_ON:
        _turn_ttl_on(calls, name)
    calls.call("put_item", TableName=name, Item=serialize({"PK": TTL_MARKER[0], "SK": TTL_MARKER[1]}))


class _NotPermitted(Exception):
    pass


def _ttl_status(calls: DynamoCalls, name: str) -> str:
    """The table's TTL status ("ENABLED", "ENABLING", "DISABLED", "DISABLING"), on our attribute."""
    try:
        answer = calls.client.describe_time_to_live(TableName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "AccessDeniedException":
            raise _NotPermitted from exc
        raise StorageUnavailable("The DynamoDB table's TTL could not be read.") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable("The DynamoDB table's TTL could not be read.") from exc
    description = answer.get("TimeToLiveDescription", {})
    status = str(description.get("TimeToLiveStatus", "DISABLED"))
    attribute = description.get("AttributeName", TTL_ATTRIBUTE)
    if status in TTL_ON and attribute != TTL_ATTRIBUTE:
        raise ConfigurationError(
            f"DynamoDB table {name} expires items by {attribute!r}; twostep needs TTL on {TTL_ATTRIBUTE!r}"
        )
    return status


def _turn_ttl_on(calls: DynamoCalls, name: str) -> None:
    """UpdateTimeToLive; a refusal because another process just did it (real DynamoDB answers a repeated
    enable with a ValidationException, moto accepts it) is fine once the status reads on."""
    try:
        calls.call(
            "update_time_to_live",
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    except StorageUnavailable:
        if _ttl_status(calls, name) not in TTL_ON:
            raise StorageUnavailable("TTL could not be turned on for the DynamoDB table.") from None
