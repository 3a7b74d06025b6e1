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
    """The encoding a phone network would use for `text` and how many segments it takes."""
    if is_gsm7(text):
        units = len(text) + sum(text.count(char) for char in GSM_EXTENSION if char in text)
        single, part, encoding = GSM_SINGLE, GSM_PART, "gsm7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "ucs2"
    count = 1 if units <= single else math.ceil(units / part)
    return Segments(encoding=encoding, units=units, count=count)
