"""Test numbers (`TWOSTEP_TEST_NUMBERS`): phone numbers that always get one fixed code and are never texted.

What app-store reviewers and end-to-end checks sign in with outside prod (settings refuse them in prod).
Everything else stays as for any number: the code is stored only as an HMAC, expires, counts attempts
and is used once, and every limit and lock-out applies; only the sending is skipped, and the audit trail
marks each such code (`test_number`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from twostep.domain.errors import InvalidPhoneNumber
from twostep.domain.identity import parse_phone


def parse_test_number(entry: str) -> tuple[str, str]:
    """`+15005550006:123456` as (E.164 number, code).

    Raises:
        ValueError: not `+number:code` with a valid number and a code of 4 to 10 digits.
    """
    number, _, code = entry.strip().rpartition(":")
    if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 10):
        # Never the entry itself: with no number in it, it is the fixed code (a way in).
        raise ValueError("a test number's code (after ':') must be 4 to 10 digits")
    try:
        phone = parse_phone(number, field="test_numbers")
    except InvalidPhoneNumber:
        raise ValueError(
            "a test number is not a valid number in E.164 format (+15005550006:123456)"
        ) from None
    return phone, code


class FixedCodeNumbers:
    """The configured test numbers and their fixed codes."""

    def __init__(self, codes: Mapping[str, str] | None = None) -> None:
        self._codes = dict(codes or {})

    @classmethod
    def parse(cls, entries: Iterable[str]) -> FixedCodeNumbers:
        """Raises: ValueError for an entry that is not `+number:code` (see `parse_test_number`)."""
        return cls(dict(parse_test_number(entry) for entry in entries))

    def code_for(self, phone: str) -> str | None:
        """The fixed code of a test number; None for every other number."""
        return self._codes.get(phone)


NO_TEST_NUMBERS = FixedCodeNumbers()
