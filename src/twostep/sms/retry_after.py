"""A provider's `Retry-After` in seconds, read the same way for every provider (HTTP and SNS)."""

from __future__ import annotations

MAX_RETRY_AFTER_SECONDS = 3600
# More digits than this is longer than the cap in any case; `int()` of thousands of digits is slow or
# refused (ValueError past 4300), so such a value is not converted at all.
MAX_DIGITS = 9


def delay_seconds(value: str) -> int | None:
    """`value` as whole seconds between 1 and an hour when it is ASCII digits only; else None.

    `str.isdigit` alone accepts `²` and other Unicode digits that `int()` refuses.
    """
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text) > MAX_DIGITS:
        return MAX_RETRY_AFTER_SECONDS
    return min(MAX_RETRY_AFTER_SECONDS, max(1, int(text)))
