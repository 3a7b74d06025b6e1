"""`Idempotency-Key` (IETF draft "The Idempotency-Key HTTP Header Field", Stripe's semantics): the key's
syntax, its errors, and the storage record that remembers the first answer.

The record never holds the client's key or the request itself: `key` is an HMAC of the route, the caller
and the client's key, `fingerprint` an HMAC of the request (for a login: of a body holding the password).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from twostep.domain.errors import InvalidInput, TwoStepError

MAX_KEY_LENGTH = 255


class InvalidIdempotencyKey(InvalidInput):
    code = "invalid_idempotency_key"
    default_message = "Idempotency-Key: 1 to 255 visible ASCII characters, sent once."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, field="Idempotency-Key")


class IdempotencyKeyReused(TwoStepError):
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was used for a different request; use a new key."


class IdempotencyRequestInProgress(TwoStepError):
    code = "idempotency_request_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed; retry shortly."
    retry_after = 1  # seconds: the first request is usually done by then


def _unquote(raw: str) -> str | None:
    """An RFC 8941 sf-string (`"..."`, the draft's syntax) without its quotes; None when malformed."""
    inner, out, escaped = raw[1:-1], [], False
    for char in inner:
        if escaped:
            if char not in '"\\':
                return None
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def parse_idempotency_key(values: list[str]) -> str:
    """The key from the header's values: an sf-string (`"abc"`) as the draft says, or Stripe's bare form.

    Raises:
        InvalidIdempotencyKey: sent twice, empty, longer than 255 characters, or not visible ASCII.
    """
    if len(values) != 1:
        raise InvalidIdempotencyKey("Idempotency-Key: send the header once.")
    raw = values[0].strip()
    quoted = len(raw) >= 2 and raw.startswith('"') and raw.endswith('"')
    key = _unquote(raw) if quoted else raw
    if key is None or not key:
        raise InvalidIdempotencyKey()
    lowest = 0x20 if quoted else 0x21  # a space is allowed only inside quotes
    if len(key) > MAX_KEY_LENGTH or any(not lowest <= ord(char) <= 0x7E for char in key):
        raise InvalidIdempotencyKey()
    return key


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """One key's claim, and later its first answer."""

    key: str  # HMAC of route, caller and the client's key
    fingerprint: str  # HMAC of the request the key was first used for
    lease: str  # random id of the request that claimed the key; only it stores the answer or lets go
    created_at: datetime
    expires_at: datetime  # forgotten afterwards: the key may be used again
    locked_until: (
        datetime  # without an answer by then, the claim is abandoned (a crash) and may be taken over
    )
    answer: str | None = None  # the first answer (status, headers, body) as JSON; None while it runs


class IdempotencyStore(Protocol):
    def claim_idempotency_key(self, record: IdempotencyRecord) -> bool:
        """Store `record` (no answer yet) unless the key is taken, in one conditional write.

        The key is taken while a record has it that has not expired (`expires_at` after
        `record.created_at`) and either holds an answer or is still locked (`locked_until` after it).
        True only for the one caller that stored its record.
        """
        ...

    def get_idempotency_record(self, key: str, now: datetime) -> IdempotencyRecord | None:
        """The unexpired record of `key` (strongly consistent), or None."""
        ...

    def save_idempotent_answer(self, key: str, lease: str, answer: str) -> bool:
        """Store the first answer on the record `lease` claimed and that has none yet (one conditional
        write); False when the claim was lost (taken over after its lock ran out, or released)."""
        ...

    def release_idempotency_key(self, key: str, lease: str) -> None:
        """Forget the claim of `lease` if it still has no answer, so the request may be retried."""
        ...
