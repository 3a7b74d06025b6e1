"""`Idempotency-Key`: a repeated request gets the first answer, and nothing is done (or sent) twice.

The first request with a key claims it with one conditional write, runs, and stores its answer; a repeat
with the same key and the same request replays that answer; the same key with another request is refused
(`IdempotencyKeyReused`), and a repeat while the first still runs is refused too
(`IdempotencyRequestInProgress`, 409: the client retries shortly) rather than waiting in a server thread.

What is replayed follows Stripe: successes and final refusals (4xx) are kept; a failure that may pass on a
retry (5xx, 429, 408, 409, 425) lets the key go, so a 503 never locks it. A crash leaves the claim
locked for `LOCK_SECONDS` only; then the next repeat takes it over and runs again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from twostep.domain.clock import Clock
from twostep.domain.errors import StorageUnavailable
from twostep.domain.idempotency import (
    IdempotencyKeyReused,
    IdempotencyRecord,
    IdempotencyRequestInProgress,
    IdempotencyStore,
)

logger = logging.getLogger("twostep.idempotency")

# Longer than any request runs (provider timeouts and failover included), short enough that a crashed
# server's claim does not hold a client up for long.
LOCK_SECONDS = 60
# Refusals a retry may turn into a success: never kept, so the key stays usable.
RETRIABLE_STATUSES = frozenset({408, 409, 425, 429})
CLAIM_TRIES = 3


@dataclass(frozen=True, slots=True)
class IdempotentAnswer:
    """An HTTP answer as kept for replays: status, the headers worth repeating, and the body text."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: str

    def dumps(self) -> str:
        return json.dumps({"status": self.status, "headers": self.headers, "body": self.body})

    @classmethod
    def loads(cls, text: str) -> IdempotentAnswer:
        data = json.loads(text)
        headers = tuple((str(name), str(value)) for name, value in data["headers"])
        return cls(status=int(data["status"]), headers=headers, body=str(data["body"]))


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds the key; it must `finish` or `abandon` it."""

    key: str
    lease: str


def replayable(status: int) -> bool:
    """Whether an answer with `status` is kept and replayed (Stripe: successes and final 4xx)."""
    return 200 <= status < 300 or (400 <= status < 500 and status not in RETRIABLE_STATUSES)


class IdempotencyService:
    def __init__(
        self,
        store: IdempotencyStore,
        clock: Clock,
        *,
        fingerprint_key: bytes,
        ttl_seconds: int,
        lock_seconds: int = LOCK_SECONDS,
    ) -> None:
        self._store, self._clock = store, clock
        # A key of its own, so these digests never match those of codes or audit fingerprints.
        self._key = hmac.new(fingerprint_key, b"twostep idempotency", hashlib.sha256).digest()
        self._ttl = timedelta(seconds=ttl_seconds)
        self._lock = timedelta(seconds=lock_seconds)

    def _mac(self, *parts: bytes) -> str:
        # Each part's length first: no two different part lists give the same input.
        framed = b"".join(len(part).to_bytes(8, "big") + part for part in parts)
        return hmac.new(self._key, framed, hashlib.sha256).hexdigest()

    def begin(self, scope: str, key: str, request: bytes) -> Claim | IdempotentAnswer:
        """Claim `key` within `scope` (route and caller) for `request` (its canonical bytes), or return the
        first answer to the same request.

        Raises:
            IdempotencyKeyReused: the key was used in this scope for a different request.
            IdempotencyRequestInProgress: the first request with the key is still running.
            StorageUnavailable: as the store raises.
        """
        record_key = self._mac(b"key", scope.encode(), key.encode())
        fingerprint = self._mac(b"request", scope.encode(), request)
        for _ in range(CLAIM_TRIES):
            now = self._clock.now()
            record = IdempotencyRecord(
                key=record_key,
                fingerprint=fingerprint,
                lease=secrets.token_hex(16),
                created_at=now,
                expires_at=now + self._ttl,
                locked_until=now + self._lock,
            )
            if self._store.claim_idempotency_key(record):
                return Claim(record_key, record.lease)
            existing = self._store.get_idempotency_record(record_key, now)
            if existing is None:
                continue  # let go (or expired) between the refused claim and the read: claim again
            if not hmac.compare_digest(existing.fingerprint, fingerprint):
                raise IdempotencyKeyReused()
            if existing.answer is None:
                raise IdempotencyRequestInProgress()
            return IdempotentAnswer.loads(existing.answer)
        raise IdempotencyRequestInProgress()  # the key keeps changing hands: let the client retry

    def finish(self, claim: Claim, answer: IdempotentAnswer) -> None:
        """Keep `answer` for replays when it is final (see `replayable`); otherwise let the key go.

        A storage failure here is logged, not raised: the request's work is done and its client gets
        the answer; the key then stays locked until `LOCK_SECONDS` pass.
        """
        try:
            if not replayable(answer.status):
                self._store.release_idempotency_key(claim.key, claim.lease)
            elif not self._store.save_idempotent_answer(claim.key, claim.lease, answer.dumps()):
                logger.warning(
                    "idempotency claim lost before its answer was stored (the request ran too long)"
                )
        except StorageUnavailable:
            logger.warning("idempotency answer not stored: storage unavailable")

    def abandon(self, claim: Claim) -> None:
        """Let the key go without an answer (no work was done, or the answer must not be kept)."""
        try:
            self._store.release_idempotency_key(claim.key, claim.lease)
        except StorageUnavailable:
            logger.warning("idempotency key not released: storage unavailable")
