"""How many SMS segments a text takes: GSM-7 (160 per single SMS) or UCS-2 (70) when any character
is outside the GSM 03.38 alphabet. Providers bill per segment and long messages arrive split."""

from __future__ import annotations

import math
from dataclasses import dataclass

# GSM 03.38 default alphabet (the escape 0x1B left out) and its extension table, which costs 2 septets.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: str  # "gsm7" or "ucs2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int


GSM_ALL = GSM_BASIC | GSM_EXTENSION


def is_gsm7(text: str) -> bool:
    # One set operation instead of a generator step per character (every text's budget and length check).
    return GSM_ALL.issuperset(text)


def count_segments(text: str) -> Segments:
    """The encoding a phone network would use for `text` and how many segments it takes.

    A long text's parts never split a character: an extension character's escape and its code, or a
    UTF-16 surrogate pair, go whole into the next part when one unit is left, as every encoder does.
    """
    if is_gsm7(text):
        extended = sum(text.count(char) for char in GSM_EXTENSION if char in text)
        units, single, part, encoding = len(text) + extended, GSM_SINGLE, GSM_PART, "gsm7"
        wide = extended > 0
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "ucs2"
        wide = units > len(text)  # a character outside the BMP: a surrogate pair
    if units <= single:
        count = 1
    elif wide:
        count = _parts(text, part, gsm=encoding == "gsm7")
    else:
        count = math.ceil(units / part)
    return Segments(encoding=encoding, units=units, count=count)


def _parts(text: str, part: int, *, gsm: bool) -> int:
    """How many parts of `part` units a long text fills, each character kept whole in one part."""
    parts, used = 1, 0
    for char in text:
        width = (2 if char in GSM_EXTENSION else 1) if gsm else (2 if ord(char) > 0xFFFF else 1)
        if used + width > part:
            parts, used = parts + 1, 0
        used += width
    return parts
