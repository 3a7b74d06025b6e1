"""Transaction details a code is bound to (PSD2 dynamic linking): an amount with its currency, and a payee.

Both or neither: a verification without them works as it always did.

A code created for "49.90 EUR to ACME" is useless for any other amount or payee: both are bound into the
code's HMAC (see `CodeHasher.digest`), so nothing about them needs storing, and a check that presents other
values fails like a wrong code.

Formats (strict, so one value has one meaning):
- amount: `<number> <CUR>`, one space; the number is digits with an optional `.` and 1 to 3 decimals, no
  sign, no leading zeros, no thousands separators (`49.90 EUR`, `1200 JPY`, `0.125 BHD`); the currency is
  three capital letters (ISO 4217's shape). `49.9 EUR` and `49.90 EUR` are the same amount and bind alike.
- payee: 1 to 64 printable characters, no `{` or `}`, no leading or trailing spaces; compared in Unicode NFC.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from twostep.domain.errors import InvalidInput

AMOUNT = re.compile(r"(?P<number>(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,3})?) (?P<currency>[A-Z]{3})")
MAX_PAYEE_CHARS = 64
# Tags the binding's encoding, so a later format can never be read as this one.
BINDING_VERSION = "txn1"


def parse_amount(raw: str) -> str:
    """The amount as given, once it has the strict format above.

    Raises: InvalidInput naming `amount`.
    """
    if AMOUNT.fullmatch(raw) is None:
        raise InvalidInput(
            "amount must be a number and a currency code, like 49.90 EUR (up to 3 decimals, no sign).",
            field="amount",
        )
    return raw


def parse_payee(raw: str) -> str:
    """The payee as given, once it is 1..64 printable characters without surrounding spaces.

    Raises: InvalidInput naming `payee`.
    """
    # No braces: a payee is filled into the SMS text and must never fill in a placeholder ({code}).
    bad_chars = "{" in raw or "}" in raw
    if bad_chars or not 1 <= len(raw) <= MAX_PAYEE_CHARS or not raw.isprintable() or raw != raw.strip():
        raise InvalidInput(
            f"payee must be 1 to {MAX_PAYEE_CHARS} printable characters without {{, }} or surrounding spaces.",
            field="payee",
        )
    return raw


def _canonical_amount(amount: str) -> str:
    """One spelling per amount: trailing decimal zeros dropped (49.90 EUR -> 49.9 EUR)."""
    match = AMOUNT.fullmatch(parse_amount(amount))
    if match is None:  # unreachable: parse_amount refuses what does not match
        raise InvalidInput(field="amount")
    number = Decimal(match["number"])
    text = format(number.normalize(), "f") if number else "0"
    return f"{text} {match['currency']}"


def _field(value: str) -> str:
    """Length-prefixed, so no choice of values can shift a boundary ("1|2" + "3" never equals "1" + "2|3")."""
    return f"{len(value)}:{value}"


@dataclass(frozen=True, slots=True)
class Transaction:
    """What a code confirms: an amount paid to a payee (both checked by `parse_*`)."""

    amount: str
    payee: str

    @classmethod
    def from_request(cls, amount: str | None, payee: str | None) -> Transaction | None:
        """None when neither is given; PSD2's dynamic linking needs both, so one alone is refused.

        Raises: InvalidInput naming `amount` or `payee`.
        """
        if amount is None and payee is None:
            return None
        if amount is None or payee is None:
            missing = "amount" if amount is None else "payee"
            raise InvalidInput(
                f"{missing} is required when {'payee' if amount is None else 'amount'} is given.",
                field=missing,
            )
        return cls(amount=parse_amount(amount), payee=parse_payee(payee))

    def binding(self) -> str:
        """The canonical, unambiguous encoding bound into the code's HMAC."""
        amount = _canonical_amount(self.amount)
        payee = unicodedata.normalize("NFC", self.payee)
        return f"{BINDING_VERSION}|{_field(amount)}|{_field(payee)}"


def binding_of(transaction: Transaction | None) -> str:
    """The HMAC binding of an optional transaction ("" binds nothing: the code checks as it always did)."""
    return "" if transaction is None else transaction.binding()
