"""DynamoDB: delivery records.

One small item per sent message, `PK = DELIVERY#<provider>#<message id>`, `SK = DELIVERY`, found for
its challenge through the sparse index (`GSI1PK = DELIVERIES#<challenge id>`, `GSI1SK` its send time),
deleted by TTL a day after the record's `expires_at`. `stage` orders the statuses, so "only forward"
is one conditional UpdateItem. No phone number or text is stored; only the language the text was
written in (`language`, absent when unknown) and the verification API tenant it was sent for (`tenant`,
absent for an account's code).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twostep.domain.receipts import Delivery, DeliveryStatus, stage_of
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import (
    ConditionFailed,
    timed_sequence,
    to_datetime,
    to_number,
)
from twostep.storage.dynamodb_codec import Retention
from twostep.storage.dynamodb_schema import GSI1


def _pk(provider: str, message_id: str) -> str:
    return f"DELIVERY#{provider}#{message_id}"


def _delivery(item: dict[str, Any]) -> Delivery:
    return Delivery(
        provider=str(item["provider"]),
        message_id=str(item["message_id"]),
        challenge_id=str(item["challenge_id"]),
        channel=str(item["channel"]),
        status=item["status"],
        sent_at=to_datetime(item["sent_at"]),
        updated_at=to_datetime(item["updated_at"]),
        expires_at=to_datetime(item["expires_at"]),
        error_code=item.get("error_code"),
        language=item.get("language"),  # absent on records kept before it was stored
        tenant=item.get("tenant"),
    )


# A record's put condition: the first record of a message id stays.
FIRST_RECORD = "attribute_not_exists(PK)"


def delivery_item(delivery: Delivery, kept: Retention) -> dict[str, Any]:
    """The item of a new record (also put inside the transaction that stores a sent challenge)."""
    d = delivery
    item: dict[str, Any] = {
        "PK": _pk(d.provider, d.message_id),
        "SK": "DELIVERY",
        "GSI1PK": f"DELIVERIES#{d.challenge_id}",
        "GSI1SK": timed_sequence(d.sent_at),
        "provider": d.provider,
        "message_id": d.message_id,
        "challenge_id": d.challenge_id,
        "channel": d.channel,
        "status": d.status,
        "stage": stage_of(d.status),
        "error_code": d.error_code,
        "sent_at": to_number(d.sent_at),
        "updated_at": to_number(d.updated_at),
        "expires_at": to_number(d.expires_at),
        "ttl": kept.ended(d.expires_at),
    }
    if d.language is not None:
        item["language"] = d.language
    if d.tenant is not None:
        item["tenant"] = d.tenant
    return item


class DeliveryOps(TableOps):
    """Delivery record methods of `DynamoDbStorage`."""

    def add_delivery(self, delivery: Delivery) -> None:
        try:
            self._put(delivery_item(delivery, self._codec.retention), FIRST_RECORD)
        except ConditionFailed:
            return  # the first record of a message id stays

    def get_delivery(self, provider: str, message_id: str) -> Delivery | None:
        item = self._get(_pk(provider, message_id), "DELIVERY")
        return None if item is None else _delivery(item)

    def advance_delivery(
        self, provider: str, message_id: str, status: DeliveryStatus, error_code: str | None, at: datetime
    ) -> Delivery | None:
        values: dict[str, Any] = {":status": status, ":stage": stage_of(status), ":at": to_number(at)}
        expression = "SET #status = :status, stage = :stage, updated_at = :at"
        if error_code is None:
            expression += " REMOVE error_code"
        else:
            expression += ", error_code = :code"
            values[":code"] = error_code
        try:
            item = self._update(
                _pk(provider, message_id),
                "DELIVERY",
                expression,
                values,
                ConditionExpression="attribute_exists(PK) AND stage < :stage",
                ExpressionAttributeNames={"#status": "status"},
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            return None
        return None if item is None else _delivery(item)

    def latest_delivery(self, challenge_id: str) -> Delivery | None:
        items = self._query(
            "GSI1PK = :p", {":p": f"DELIVERIES#{challenge_id}"}, 1, IndexName=GSI1, ScanIndexForward=False
        )
        return _delivery(items[0]) if items else None
