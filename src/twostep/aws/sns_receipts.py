"""The Lambda entry point for SNS SMS delivery status: a CloudWatch Logs subscription on SNS's
delivery-status log groups invokes it with batches of log lines (see `twostep.sms.sns_receipts`).

Each line moves the delivery record of its SNS message id, exactly as a Twilio or Flowroute receipt
does over HTTP (`DeliveryReceipts.apply`: audit, metrics, channel fallback). Lines for messages this
service did not send (other senders in the account share the log group) or whose record expired are
counted and skipped. Only lines of the two delivery-status groups of the function's own account and region
are read (the template's invoke permissions name them too): a line from any other group of the account
could be anyone's, so its batch is refused whole and logged. A storage failure raises, so Lambda retries the batch (replays change nothing).
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
    from twostep.aws.lambda_settings import lambda_settings
    from twostep.container import build
    from twostep.logs import configure_logging

    settings = lambda_settings()  # a bad setting: one line naming it, as the API function says it
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
    from twostep.sms.sns_receipts import log_batch, parse_line

    group, lines = log_batch(event)
    if not lines:
        return {}
    if group not in _own_delivery_status_groups(context):
        logger.warning(
            "sns delivery status: %d line(s) of log group %r refused: not an SNS delivery-status group of "
            "this function's account and region",
            len(lines),
            group[:300],
        )
        return {"refused": len(lines)}
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


def _own_delivery_status_groups(context: Any) -> frozenset[str]:
    """The SNS delivery-status groups of the account and region the function runs in, read from its ARN
    (`arn:<partition>:lambda:<region>:<account>:function:<name>`); none when it has no such ARN."""
    from twostep.sms.sns_receipts import delivery_status_groups

    arn = getattr(context, "invoked_function_arn", None)
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda" or not parts[3] or not parts[4]:
        return frozenset()
    return delivery_status_groups(parts[3], parts[4])
