"""`dumps_like_json` writes `json.dumps`'s own text (audit details, access-token claims)."""

from __future__ import annotations

import json

import pytest

from twostep.domain import json_text
from twostep.domain.json_text import dumps_like_json

RECORDS: list[object] = [
    {},
    {"user_id": "u-1", "reason": "wrong_code", "attempts": 3},
    {"phone": "+4915…89", "note": "Grüße, 日本, emoji \U0001f600", "quote": 'a "b" \\ c\n\t'},
    {"amr": ["pwd", "sms"], "exp": 1_800_000_000, "ratio": 0.5, "ok": True, "none": None},
    [1, 2.25, -3, "x", False, None, [], {}],
    {"nested": {"list": [{"a": 1}, {"b": [True, None]}]}},
]


@pytest.mark.parametrize("separators", [(", ", ": "), (",", ":")])
@pytest.mark.parametrize("record", RECORDS)
def test_the_text_is_json_dumps_text(record: object, separators: tuple[str, str]) -> None:
    assert dumps_like_json(separators)(record) == json.dumps(record, separators=separators)


def test_without_the_c_accelerator_the_text_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_text.json.encoder, "c_make_encoder", None)
    encode = dumps_like_json((",", ":"))
    for record in RECORDS:
        assert encode(record) == json.dumps(record, separators=(",", ":"))


@pytest.mark.parametrize("value", [{"when": object()}, {"raw": b"bytes"}, {1j: "complex key"}])
def test_what_is_not_json_raises_type_error_as_json_dumps_does(value: object) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        dumps_like_json()(value)
