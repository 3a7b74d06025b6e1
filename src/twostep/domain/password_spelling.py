"""Which spelling of a password a stored hash was made of, and the mark that says so.

Passwords are hashed in NFKC (NIST SP 800-63B-4, 3.1.1.2). Hashes made before were of the NFC spelling;
for a password with compatibility characters (full-width letters, the ligature fi, superscripts) the two
differ, so such a hash is checked a second time with the NFC spelling. A hash made since the mark starts
with `NFKC_MARK`: it can only be of the NFKC spelling, and a check of it never runs that second time
(else every guess with a compatibility character cost two Argon2 runs, at every account, for good).

The mark sits before argon2's own string (`$nfkc$argon2id$v=19$m=...`), so every storage keeps the hash as
the opaque text it always was (no schema change, backups and restores as before) and reading it costs one
prefix check. A hash without it (made before the mark, here or by argon2-cffi elsewhere) verifies as
before; a right sign-in marks it.
"""

from __future__ import annotations

import enum
import unicodedata

NFKC_MARK = "$nfkc"


class Verified(enum.Enum):
    """What a password check found."""

    NO = "no"
    # Right, and the hash says it is of the NFKC spelling: nothing to change.
    YES = "yes"
    # Right, the NFKC spelling, on a hash without the mark (made before it): storing the same hash marked
    # (no Argon2 run) ends the second check of every wrong guess at this account.
    UNMARKED = "unmarked"
    # The hash was made of the NFC spelling (before NFKC): each check of it costs two Argon2 runs until a
    # sign-in stores a hash of the NFKC spelling in its place.
    EARLIER_SPELLING = "earlier_spelling"


def normalise_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B-4 (3.1.1.2) asks: the same password typed on another keyboard or input
    method (full-width letters, the ligature fi as one character, a composed or decomposed accent) hashes
    the same."""
    return unicodedata.normalize("NFKC", password)


def earlier_spelling(password: str, normalised: str) -> str | None:
    """The NFC spelling hashes were made of before NFKC, when it differs from `normalised` (only for
    compatibility characters: full-width forms, ligatures, superscripts); else None."""
    composed = unicodedata.normalize("NFC", password)
    return None if composed == normalised else composed


def marked(encoded: str) -> str:
    """`encoded` (argon2's string of a hash of the NFKC spelling) as stored: with the mark."""
    return NFKC_MARK + encoded


def unmarked(stored_hash: str) -> tuple[str, bool]:
    """argon2's string of `stored_hash`, and whether it carried the mark (only the NFKC spelling can match)."""
    if stored_hash.startswith(NFKC_MARK):
        return stored_hash[len(NFKC_MARK) :], True
    return stored_hash, False
