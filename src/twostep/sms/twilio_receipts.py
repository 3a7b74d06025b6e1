"""Twilio status callbacks: the `X-Twilio-Signature` check and what a callback says.

Twilio POSTs a form to the `StatusCallback` URL given with each message or call: `MessageSid` and
`MessageStatus` (with `ErrorCode` on a failure) for messages, `CallSid` and `CallStatus` for calls.
It signs each one: HMAC-SHA1, keyed with the account's auth token, over the full URL it called followed
by every form field's name and value, sorted by name, base64-encoded. The URL is the one we gave
Twilio (the configured public URL), never one rebuilt from the Host header, which proxies rewrite.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from twostep.domain.receipts import FAILED_STATUSES, DeliveryStatus, InvalidReceipt, Receipt

CALLBACK_PATH = "/receipts/twilio"
PROVIDER = "twilio"

# Twilio's message and call statuses; those not listed (queued, accepted, scheduled, sending, sent,
# partially_delivered, initiated, ringing, in-progress) say the message is on its way.
_FINAL: dict[str, DeliveryStatus] = {
    "delivered": "delivered",
    "read": "delivered",  # WhatsApp: read implies delivered
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",  # never left Twilio
    "completed": "delivered",  # a call that was answered and ran to its end
    "busy": "undelivered",
    "no-answer": "undelivered",
}
MAX_ID_LENGTH = 64


def signature(url: str, form: Sequence[tuple[str, str]], auth_token: str) -> str:
    """The `X-Twilio-Signature` Twilio sends for a POST of `form` to `url`."""
    payload = url + "".join(name + value for name, value in sorted(form))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_matches(url: str, form: Sequence[tuple[str, str]], auth_token: str, presented: str) -> bool:
    """Constant-time comparison of the presented signature with the expected one."""
    return hmac.compare_digest(signature(url, form, auth_token).encode(), presented.encode())


def callback_url(public_url: str) -> str:
    """The `StatusCallback` URL to give Twilio with every message and call."""
    return public_url.rstrip("/") + CALLBACK_PATH


def parse_callback(form: Sequence[tuple[str, str]]) -> Receipt:
    """The receipt a (signed) status callback carries.

    Raises:
        InvalidReceipt: neither a message nor a call callback (no sid or no status).
    """
    fields = dict(form)
    sid = fields.get("MessageSid") or fields.get("SmsSid") or fields.get("CallSid") or ""
    raw = fields.get("MessageStatus") or fields.get("SmsStatus") or fields.get("CallStatus") or ""
    if not sid or len(sid) > MAX_ID_LENGTH or not sid.isalnum() or not raw:
        raise InvalidReceipt(
            "A Twilio status callback needs MessageSid and MessageStatus (or CallSid and CallStatus)."
        )
    status = _FINAL.get(raw.strip().lower(), "sent")
    code = fields.get("ErrorCode", "").strip()
    error_code = code[:16] if code and status in FAILED_STATUSES else None
    return Receipt(PROVIDER, sid, status, error_code)
