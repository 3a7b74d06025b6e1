"""Free text that people write and others read (names, message-board posts): what it may not hold."""

from __future__ import annotations

import unicodedata

# Characters that draw nothing or break the line where a reader sees no break: controls (C0, DEL and
# C1, not only those below 32), line and paragraph separators, surrogates, private use, unassigned.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
# Format characters (Cf) draw nothing either, and the bidirectional ones reorder what follows them (a
# right-to-left override in a name turns the rest of a public post around). Only the zero-width
# non-joiner and joiner belong in written names (Persian, Indic scripts, emoji sequences).
_FORMAT = "Cf"
_JOINERS = frozenset({"\u200c", "\u200d"})


def _hidden(ch: str, allowed: str) -> bool:
    if ch.isprintable() or ch in allowed or ch in _JOINERS:
        return False
    category = unicodedata.category(ch)
    return category in _HIDDEN_CATEGORIES or category == _FORMAT


def has_hidden_characters(text: str, allowed: str = "") -> bool:
    """Whether `text` holds a character that draws nothing, reorders the text or breaks its line,
    other than those in `allowed` (a post's own line breaks and tabs)."""
    # Nearly every text is printable once its allowed characters are left out: checked at C speed (the
    # board checks each post it lists), character by character only otherwise.
    if text.translate(dict.fromkeys(map(ord, allowed))).isprintable():
        return False
    return any(_hidden(ch, allowed) for ch in text)


def without_hidden_characters(text: str, allowed: str = "") -> str:
    """`text` less the characters `has_hidden_characters` finds: for text stored before they were refused."""
    if not has_hidden_characters(text, allowed):
        return text
    return "".join(ch for ch in text if not _hidden(ch, allowed))
