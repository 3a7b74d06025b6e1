"""The low-level DynamoDB client wrapper: typed values in and out, driver errors mapped to domain errors.

Every call goes through `DynamoCalls.call`, which turns connection, endpoint, throttling (after
botocore's own retries) and missing-table errors into `StorageUnavailable`, and condition failures
into `ConditionFailed` for the adapter to interpret. Transaction conflicts are retried a few times.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from twostep.domain.errors import StorageUnavailable

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=64,  # the race tests run 50 threads through one client (clients are thread-safe)
)
CONDITION_CODES = {"ConditionalCheckFailedException"}
TRANSACTION_CONFLICT_RETRIES = 5

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


CHECK_FAILED = "ConditionalCheckFailed"  # a transaction item's cancellation reason: its condition failed


class ConditionFailed(Exception):
    """A ConditionExpression (or a transaction's condition) refused the write. For a transaction,
    `reasons` holds DynamoDB's CancellationReasons, one per item in order (with the old item where
    the item asked for it by ReturnValuesOnConditionCheckFailure)."""

    def __init__(self, code: str, reasons: list[dict[str, Any]] | None = None) -> None:
        super().__init__(code)
        self.reasons = reasons or []

    @property
    def last_item_failed(self) -> bool:
        """Whether the transaction's last item's condition failed (where a write puts its check)."""
        return self.item_failed(-1)

    def item_failed(self, index: int) -> bool:
        """Whether the condition of the transaction's item at `index` failed."""
        return bool(self.reasons) and self.reasons[index].get("Code") == CHECK_FAILED


def to_number(moment: datetime) -> Decimal:
    """A datetime as epoch seconds, exact enough to round-trip microseconds."""
    return Decimal(repr(moment.timestamp()))


def to_datetime(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)


def maybe_datetime(value: Any) -> datetime | None:
    return None if value is None else to_datetime(value)


def ttl_after(moment: datetime, seconds: int) -> int:
    """The TTL attribute (epoch seconds): DynamoDB deletes the item some time after it passes."""
    return int(moment.timestamp()) + seconds


def serialize(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to DynamoDB attribute values; None values are left out."""
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


class _Sequence:
    """Nanosecond timestamps made strictly increasing within the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        with self._lock:
            self._last = max(time.time_ns(), self._last + 1)
            return self._last


_sequence = _Sequence()


def sequence() -> str:
    """A sort key that grows in insertion order within a process, unique across processes."""
    return f"{_sequence.next():020d}#{os.urandom(4).hex()}"


def time_prefix(moment: datetime) -> str:
    """Nanoseconds since the epoch, zero-padded: sorts like the time (and like `sequence()`'s start)."""
    return f"{int(moment.timestamp() * 1_000_000) * 1000:020d}"


def timed_sequence(moment: datetime) -> str:
    """A sort key ordered by `moment` (the record's own time), then by insertion: housekeeping deletes
    everything before a moment with one key-range Query."""
    return f"{time_prefix(moment)}#{sequence()}"


def _cancellation_codes(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "")) for reason in reasons]


def _cancellation_reasons(error: ClientError) -> list[dict[str, Any]]:
    return [dict(reason) for reason in error.response.get("CancellationReasons") or []]


class DynamoCalls:
    """Runs client operations with the error mapping of the module docstring."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, operation: str, **kwargs: Any) -> Any:
        """Raises: ConditionFailed, StorageUnavailable."""
        method: Callable[..., Any] = getattr(self.client, operation)
        for attempt in range(TRANSACTION_CONFLICT_RETRIES):
            try:
                return method(**kwargs)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in CONDITION_CODES:
                    raise ConditionFailed(code) from exc
                if code == "TransactionCanceledException":
                    reasons = _cancellation_codes(exc)
                    if CHECK_FAILED in reasons:
                        raise ConditionFailed(code, _cancellation_reasons(exc)) from exc
                    if "TransactionConflict" in reasons and attempt + 1 < TRANSACTION_CONFLICT_RETRIES:
                        time.sleep(0.01 * (attempt + 1))
                        continue
                if code == "ResourceNotFoundException":
                    raise StorageUnavailable("The DynamoDB table does not exist.") from exc
                raise StorageUnavailable() from exc
            except BotoCoreError as exc:  # connection refused, endpoint unreachable, timeouts
                raise StorageUnavailable() from exc
        raise StorageUnavailable()  # pragma: no cover - the loop always returns or raises
