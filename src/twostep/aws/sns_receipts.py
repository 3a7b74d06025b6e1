"""The Lambda entry point for SNS SMS delivery status: a CloudWatch Logs subscription on SNS's
delivery-status log groups invokes it with batches of log lines (see `twostep.sms.sns_receipts`).

Each line moves the delivery record of its SNS message id, exactly as a Twilio or Flowroute receipt
does over HTTP (`DeliveryReceipts.apply`: audit, metrics, channel fallback). Lines for messages this
service did not send (other senders in the account share the log group) or whose record expired are
counted and skipped. A storage failure raises, so Lambda retries the batch (replays change nothing).
The container is built once per Lambda container, on the first invocation, like the API's.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from twostep.aws.emf import EmfMetrics
from twostep.aws.lazy import BuiltOnce
from twostep.domain.receipts import InvalidReceipt, UnknownMessage

logger = logging.getLogger("twostep.aws")

metrics = EmfMetrics()


def _build() -> Any:
    from twostep.container import build
    from twostep.logs import configure_logging
    from twostep.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    metrics.service = f"twostep-{settings.stage}"
    return build(settings, metrics=metrics)


_container: BuiltOnce[Any] = BuiltOnce(_build)


class ReceiptsUnavailable(RuntimeError):
    """The built container keeps no delivery records, so no line can be applied; Lambda retries the batch."""


def reset() -> None:
    """Forget the built container (tests build it again with other settings)."""
    _container.reset()


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """A CloudWatch Logs subscription event in; how many lines did what, out.

    Raises:
        InvalidReceipt: the event is not a subscription event (Lambda reports the failed invocation).
        StorageUnavailable: the batch is retried.
        ReceiptsUnavailable: the container was built without delivery records (the batch is retried).
    """
    from twostep.sms.sns_receipts import log_events, parse_line

    lines = log_events(event)
    if not lines:
        return {}
    receipts = _container.get().receipts
    if receipts is None:
        logger.error(
            "sns delivery status: the container has no delivery records; %d line(s) left", len(lines)
        )
        raise ReceiptsUnavailable("the container has no delivery records")
    counts: Counter[str] = Counter()
    try:
        for line in lines:
            try:
                counts[receipts.apply(parse_line(line))] += 1
            except UnknownMessage:
                counts["unknown"] += 1
            except InvalidReceipt:
                counts["invalid"] += 1
    finally:
        metrics.flush()
    logger.info("sns delivery status", extra=dict(counts))
    return dict(counts)
