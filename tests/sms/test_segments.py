"""SMS segment counting, the long-message warning, and the default templates fitting one segment."""

from __future__ import annotations

import logging

import pytest

from twostep.domain.otp import render_message
from twostep.settings import DEFAULT_SMS_TEMPLATE, DEFAULT_VERIFY_TEMPLATE
from twostep.sms.failover import FailoverSender
from twostep.sms.segments import count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),
        ("a" * 307, "gsm7", 307, 3),
        ("€" * 80, "gsm7", 160, 1),  # extension characters take two septets
        ("€" * 81, "gsm7", 162, 2),
        ("Gültig für 2 Minuten. Ça va? ñ", "gsm7", 30, 1),
        ("ş" + "a" * 69, "ucs2", 70, 1),  # one character outside GSM-7 switches to UCS-2
        ("ş" + "a" * 70, "ucs2", 71, 2),
        ("😀" * 35, "ucs2", 70, 1),  # outside the BMP: two UTF-16 units each
    ],
)
def test_count_segments(text: str, encoding: str, units: int, count: int) -> None:
    segments = count_segments(text)
    assert (segments.encoding, segments.units, segments.count) == (encoding, units, count)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("a" * 152 + "€" + "a" * 152, "gsm7", 306, 3),  # the escape would end part 1, its code start part 2
        ("a" * 151 + "€" + "a" * 153, "gsm7", 306, 2),  # the same length, the pair fits part 1
        ("€" * 153, "gsm7", 306, 3),  # 76 whole pairs a part
        ("ş" * 66 + "😀" + "ş" * 66, "ucs2", 134, 3),  # a surrogate pair across the end of part 1
        ("ş" * 65 + "😀" + "ş" * 67, "ucs2", 134, 2),
        ("😀" * 67, "ucs2", 134, 3),  # 33 whole pairs a part
    ],
)
def test_a_part_never_splits_a_character(text: str, encoding: str, units: int, count: int) -> None:
    """Parts were counted as units divided by 153 (or 67), as if an extension character's two septets or
    a surrogate pair's two UTF-16 units could be split between two parts. Encoders (and providers, who
    bill by it) move such a character whole into the next part, so those texts take one part more than
    counted: the SMS budget and `TWOSTEP_SMS_MAX_SEGMENTS` at start-up undercounted them."""
    segments = count_segments(text)
    assert (segments.encoding, segments.units, segments.count) == (encoding, units, count)


@pytest.mark.parametrize("template", [DEFAULT_SMS_TEMPLATE, DEFAULT_VERIFY_TEMPLATE], ids=["login", "verify"])
@pytest.mark.parametrize("web_origin", [None, "https://auth.example.com"])
def test_default_templates_fit_one_gsm7_segment(template: str, web_origin: str | None) -> None:
    body = render_message(template, code="0123456789", org="twostep", ttl_seconds=600, web_origin=web_origin)
    segments = count_segments(body)
    assert (segments.encoding, segments.count) == ("gsm7", 1)


class KeepingSender:
    name = "keeping"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> str:
        self.sent.append((to, body))
        return "id-1"


def test_long_message_is_sent_with_a_warning_that_has_no_text_or_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = KeepingSender()
    body = "Your code is 123456. " + "ş" * 60

    with caplog.at_level(logging.WARNING, logger="twostep"):
        assert FailoverSender([inner]).send("+12065551234", body) == "id-1"

    assert inner.sent == [("+12065551234", body)]
    (record,) = [r for r in caplog.records if r.getMessage() == "sms longer than one segment"]
    assert (record.encoding, record.segments) == ("ucs2", 2)  # type: ignore[attr-defined]
    assert "123456" not in repr(record.__dict__)
    assert "2065551234" not in repr(record.__dict__)


def test_one_segment_message_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="twostep"):
        FailoverSender([KeepingSender()]).send("+12065551234", "123456 is your code.")

    assert not [r for r in caplog.records if r.getMessage() == "sms longer than one segment"]
