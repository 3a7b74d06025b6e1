"""Segment counting lives in the domain (the SMS budget prices segments); kept here for importers."""

from twostep.domain.segments import (
    GSM_BASIC,
    GSM_EXTENSION,
    GSM_PART,
    GSM_SINGLE,
    UCS2_PART,
    UCS2_SINGLE,
    Segments,
    count_segments,
    is_gsm7,
)

__all__ = [
    "GSM_BASIC",
    "GSM_EXTENSION",
    "GSM_PART",
    "GSM_SINGLE",
    "UCS2_PART",
    "UCS2_SINGLE",
    "Segments",
    "count_segments",
    "is_gsm7",
]
