"""Addresses stored by 0.1.0, brought to the canonical form (`normalise_email`) every lookup uses.

0.1.0 stored an address only lower-cased: a Unicode domain (`ada@münchen.de`) or a decomposed (NFD) name
stayed as typed, so after the upgrade to canonical addresses its account was never found again (no
sign-in, no reset) and the same address could open a second account beside it. Every storage moves such
an address to its canonical form once (SQL: schema step 21; DynamoDB: `migrate`; `canonicalise_emails`).

Only a stored address holding a character outside ASCII can differ from its canonical form: 0.1.0
lower-cased ASCII already, and NFKC, case-folding and IDNA leave lower-case ASCII as it is (an ASCII
address email-validator now refuses cannot be made canonical at all, so it stays as stored either way).

Two stored addresses with one canonical form are two accounts (never merged, never lost): the older
account (created first) gets the canonical address, the newer one keeps its stored spelling and is
reported (`EmailCollision`, logged by account ids) for the operator (docs/operations.md, Upgrading).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from twostep.domain.errors import InvalidInput
from twostep.domain.identity import mask_email, normalise_email
from twostep.domain.models import EmailCollision

logger = logging.getLogger("twostep.storage")

# SQL: the rows worth a look (see above), oldest account first so that it keeps a contested address.
SQLITE_OLDER_EMAILS = (
    "SELECT id, email FROM users WHERE length(email) <> length(CAST(email AS BLOB)) ORDER BY created_at, id"
)
POSTGRES_OLDER_EMAILS = (
    "SELECT id, email FROM users WHERE char_length(email) <> octet_length(email) ORDER BY created_at, id"
)

Move = Callable[[str, str, str], str | None]
"""move(user_id, stored, canonical): give the account the canonical address if it still holds `stored`
and no account holds the canonical one; returns None when done (or the account changed or went
meanwhile), else the id of the account holding the canonical address."""


def canonical_form(stored: str) -> str | None:
    """The canonical form of a stored address when it differs from it, else None (already canonical, or
    no longer a valid address: such an account keeps its address, and a warning names it)."""
    if stored.isascii():
        return None
    try:
        canonical = normalise_email(stored)
    except InvalidInput:
        logger.warning("a stored address cannot be made canonical and stays as it is: %s", mask_email(stored))
        return None
    return None if canonical == stored else canonical


def canonicalise(users: Iterable[tuple[str, str]], move: Move) -> list[EmailCollision]:
    """Move each `(user_id, stored address)`, oldest account first, to its canonical form with `move`;
    returns the pairs left apart because the canonical address is another account's."""
    collisions: list[EmailCollision] = []
    for user_id, stored in users:
        canonical = canonical_form(stored)
        if canonical is None:
            continue
        holder = move(user_id, stored, canonical)
        if holder is None or holder == user_id:
            continue
        collision = EmailCollision(canonical=canonical, holder_id=holder, left_id=user_id)
        logger.warning(
            "two accounts have one address (%s): %s keeps it, %s keeps its older spelling; see"
            " docs/operations.md (Upgrading)",
            mask_email(canonical),
            holder,
            user_id,
        )
        collisions.append(collision)
    return collisions
