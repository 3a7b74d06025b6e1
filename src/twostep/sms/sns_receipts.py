"""Amazon SNS SMS delivery status: SNS writes one JSON line per text to CloudWatch Logs (it calls no
webhook), in `sns/<region>/<account>/DirectPublishToPhoneNumber` and its `/Failure` sibling, once the
account's SMS preferences name a `DeliveryStatusIAMRole`. A CloudWatch Logs subscription hands those
lines to a Lambda function as `{"awslogs": {"data": base64(gzip(json))}}`; this module reads them.

A line (the `destination` is the full number: it is read over, never logged or stored):

    {"notification": {"messageId": "…", "timestamp": "2026-01-01 12:00:00.000"},
     "delivery": {"destination": "+1…", "providerResponse": "Message has been accepted by phone carrier",
                  "smsType": "Transactional", "priceInUSD": 0.00645, …},
     "status": "SUCCESS"}
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from twostep.domain.receipts import DeliveryStatus, InvalidReceipt, Receipt

PROVIDER = "sns"
MAX_ID_LENGTH = 64
# providerResponse texts of a FAILURE that mean the phone or its network could not be reached (the
# message was valid); other failures (invalid number, opted out, blocked, price) SNS refused outright.
_UNREACHABLE = ("unreachable", "unavailable", "attempting to reach", "ttl expired", "not reachable")


def delivery_status_groups(region: str, account: str) -> frozenset[str]:
    """The names of the log groups SNS writes an account's SMS delivery status to in a region."""
    success = f"sns/{region}/{account}/DirectPublishToPhoneNumber"
    return frozenset({success, f"{success}/Failure"})


def log_events(event: dict[str, Any]) -> list[str]:
    """The log lines of a CloudWatch Logs subscription event (none for its control messages).

    Raises:
        InvalidReceipt: the event is not a subscription event.
    """
    return log_batch(event)[1]


def log_batch(event: dict[str, Any]) -> tuple[str, list[str]]:
    """The log group a CloudWatch Logs subscription event comes from, and its lines (none for its
    control messages).

    Raises:
        InvalidReceipt: the event is not a subscription event.
    """
    try:
        raw = gzip.decompress(base64.b64decode(event["awslogs"]["data"], validate=True))
        batch = json.loads(raw)
    except (KeyError, TypeError, ValueError, OSError, EOFError, RecursionError):
        raise InvalidReceipt("Not a CloudWatch Logs subscription event.") from None
    if not isinstance(batch, dict) or batch.get("messageType") != "DATA_MESSAGE":
        return "", []  # CONTROL_MESSAGE: CloudWatch Logs checking that the destination is reachable
    entries = batch.get("logEvents")
    if not isinstance(entries, list):
        raise InvalidReceipt("The subscription event carries no logEvents.")
    group = batch.get("logGroup")
    lines = [str(entry.get("message", "")) for entry in entries if isinstance(entry, dict)]
    return (group if isinstance(group, str) else ""), lines


def parse_line(line: str) -> Receipt:
    """The receipt one delivery-status log line carries.

    Raises:
        InvalidReceipt: not an SNS SMS delivery-status line.
    """
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        raise InvalidReceipt("The log line is not JSON.") from None
    notification = record.get("notification") if isinstance(record, dict) else None
    message_id = notification.get("messageId") if isinstance(notification, dict) else None
    if not isinstance(message_id, str) or not message_id or len(message_id) > MAX_ID_LENGTH:
        raise InvalidReceipt("The log line has no notification.messageId.")
    delivery = record.get("delivery")
    response = delivery.get("providerResponse", "") if isinstance(delivery, dict) else ""
    return Receipt(PROVIDER, message_id, _status(record.get("status"), str(response)))


def _status(status: object, provider_response: str) -> DeliveryStatus:
    if status == "SUCCESS":
        return "delivered"
    if status != "FAILURE":
        raise InvalidReceipt("The log line's status is neither SUCCESS nor FAILURE.")
    text = provider_response.lower()
    return "undelivered" if any(words in text for words in _UNREACHABLE) else "failed"
