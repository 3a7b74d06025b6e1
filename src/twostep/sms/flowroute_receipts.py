"""Flowroute delivery receipts (Messages API v2.1 `dlr_callback`): what one says, and its URL.

Flowroute POSTs a JSON:API document per receipt to the `dlr_callback` URL given with the message:

    {"data": {"type": "delivery_receipt", "id": "mdr2-…",
              "attributes": {"status": "delivered", "status_code": "…", "status_code_description": "…",
                             "level": 2, "timestamp": "2026-01-01T12:00:00.00Z", "body": "…"},
              "links": {"related": "https://api.flowroute.com/v2.1/messages/mdr2-…"}}}

Level 1 receipts come from the first carrier hop (`smsc submit`, or `smsc reject` when refused), level 2
from the handset's network (`message buffered` on the way, then a final one). Flowroute signs nothing,
so the callback URL carries a secret of ours (`TWOSTEP_RECEIPT_SECRET`), compared in constant time.
The message `body` comes back in the receipt: it is read over, never stored or logged.
"""

from __future__ import annotations

import hmac
from typing import Any

from twostep.domain.receipts import FAILED_STATUSES, DeliveryStatus, InvalidReceipt, Receipt

CALLBACK_PATH = "/receipts/flowroute"
PROVIDER = "flowroute"
MAX_ID_LENGTH = 64

# Flowroute's status texts follow the SMPP delivery-report states (Kannel's names); matched by the words
# they contain, so "delivery failed" and "undeliverable" read alike. Anything else is on its way.
_FAILED_WORDS = ("reject", "error")
_UNDELIVERED_WORDS = ("undeliver", "fail", "expire", "delete")


def callback_url(public_url: str, secret: str) -> str:
    """The `dlr_callback` URL to give Flowroute with every message."""
    return f"{public_url.rstrip('/')}{CALLBACK_PATH}/{secret}"


def secret_matches(presented: str, secret: str) -> bool:
    return hmac.compare_digest(presented.encode(), secret.encode())


def status_of(text: str) -> DeliveryStatus:
    words = text.strip().lower()
    if any(word in words for word in _FAILED_WORDS):
        return "failed"
    if any(word in words for word in _UNDELIVERED_WORDS):
        return "undelivered"
    if "deliver" in words or words == "success":
        return "delivered"
    return "sent"


def parse_receipt(document: Any) -> Receipt:
    """The receipt a Flowroute DLR document carries.

    Raises:
        InvalidReceipt: not a `delivery_receipt` document with an id and a status.
    """
    data = document.get("data") if isinstance(document, dict) else None
    attributes = data.get("attributes") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(attributes, dict):
        raise InvalidReceipt('A Flowroute delivery receipt is {"data": {"id": …, "attributes": {…}}}.')
    message_id, status = data.get("id"), attributes.get("status")
    if data.get("type", "delivery_receipt") != "delivery_receipt":
        raise InvalidReceipt("Only documents of type delivery_receipt are receipts.")
    if not isinstance(message_id, str) or not message_id or len(message_id) > MAX_ID_LENGTH:
        raise InvalidReceipt("The receipt's data.id must be the message id (mdr2-…).")
    if not isinstance(status, str) or not status.strip():
        raise InvalidReceipt("The receipt's data.attributes.status is missing.")
    mapped = status_of(status)
    code = attributes.get("status_code")
    failed = mapped in FAILED_STATUSES
    error_code = str(code)[:16] if failed and code not in (None, "") else None
    return Receipt(PROVIDER, message_id, mapped, error_code)
