"""Delivery records: what became of each message a code went out in, as the provider's receipts tell.

One record per sent message, keyed by the provider and its message id. Its status only moves forward:
`sent` (the provider took it; `queued`, `sending`, `ringing`… say no more) to one final status,
`delivered`, `failed` (never left the provider, or refused by the network) or `undelivered` (the
network gave up: phone off, number gone). The first final status wins, so receipts that arrive late,
twice or out of order change nothing; storage decides that with one conditional write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from twostep.domain.errors import Forbidden, InvalidInput, NotFound

if TYPE_CHECKING:  # delivery imports the ports, which import this module
    from twostep.domain.delivery import SentMessage

DeliveryStatus = Literal["sent", "delivered", "failed", "undelivered"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = ("sent", "delivered", "failed", "undelivered")
# What a receipt can say about a message, ordered: a record moves only to a higher stage.
STAGES: dict[DeliveryStatus, int] = {"sent": 0, "delivered": 1, "failed": 1, "undelivered": 1}
FAILED_STATUSES: frozenset[DeliveryStatus] = frozenset({"failed", "undelivered"})


def stage_of(status: DeliveryStatus) -> int:
    return STAGES[status]


def is_final(status: DeliveryStatus) -> bool:
    return STAGES[status] > 0


@dataclass(frozen=True, slots=True)
class SentFor:
    """Why a code's message went out, as its delivery record keeps it for a fallback to act on."""

    bound: bool = False  # a transaction's code (amount, payee): only its own text may carry it, no fallback
    language: str | None = None  # the bundled language it was written in, for a fallback to speak again
    tenant: str | None = None  # the verification API tenant that asked, for a fallback to act for


PLAIN_CODE = SentFor()  # unbound, no bundled language known, no tenant


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message a code went out in, and what its provider last said about it."""

    provider: str  # the registry's name: `twilio`, `flowroute`, `sns`…
    message_id: str  # the provider's id (Twilio's `SM…`/`CA…` sid, Flowroute's `mdr2-…`, SNS's MessageId)
    challenge_id: str
    channel: str  # `sms`, `voice`, `whatsapp`
    status: DeliveryStatus
    sent_at: datetime
    updated_at: datetime
    expires_at: datetime  # housekeeping deletes the record after this
    error_code: str | None = None  # the provider's own code for a failure (Twilio 30003, Flowroute 1xxx)
    # The bundled language the message was written in (`de`, `tr`), so a fallback after a failed text
    # speaks the same one; None: unknown (no bundled texts here, or a record kept before it was stored).
    language: str | None = None
    # The verification API tenant whose request sent the code (None: an account's code, or a keyless
    # call), so a fallback is counted against that tenant's caps and written in its template.
    tenant: str | None = None

    @property
    def key(self) -> str:
        """The record's one-string identity (relational primary key)."""
        return delivery_key(self.provider, self.message_id)


def delivery_key(provider: str, message_id: str) -> str:
    return f"{provider}:{message_id}"


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one provider callback says about one message."""

    provider: str
    message_id: str
    status: DeliveryStatus
    error_code: str | None = None


class DeliveryStore(Protocol):
    def add_delivery(self, delivery: Delivery) -> None:
        """Store a new record; a record with the same provider and message id stays as it is."""
        ...

    def get_delivery(self, provider: str, message_id: str) -> Delivery | None: ...

    def advance_delivery(
        self, provider: str, message_id: str, status: DeliveryStatus, error_code: str | None, at: datetime
    ) -> Delivery | None:
        """Move the record to `status` only if that is a later stage than its own (one conditional write).

        Returns the record after the change, to exactly one caller; None when nothing changed (no such
        record, or it is already at that stage or past it).
        """
        ...

    def latest_delivery(self, challenge_id: str) -> Delivery | None:
        """The record of the newest message sent for the challenge (None: none recorded)."""
        ...


class SentRecorder(Protocol):
    """Told of every message a code went out in, so its receipts can be matched later."""

    def record_sent(self, challenge_id: str, sent: SentMessage, sent_for: SentFor = PLAIN_CODE) -> None:
        """Never raises: a record that cannot be stored only means its receipts go unmatched."""
        ...

    def sent_record(
        self, challenge_id: str, sent: SentMessage, sent_for: SentFor = PLAIN_CODE
    ) -> Delivery | None:
        """What `record_sent` would store, for the caller to store it with its challenge in one write
        (None: nothing to store); never raises."""
        ...


class ReceiptNotAuthentic(Forbidden):
    code = "receipt_not_authentic"
    default_message = "The receipt's signature or secret does not match."


class InvalidReceipt(InvalidInput):
    code = "invalid_receipt"
    default_message = "The receipt is not in the provider's format."


class UnknownMessage(NotFound):
    code = "unknown_message"
    default_message = "No message with this id was sent by this service (or its record has expired)."
