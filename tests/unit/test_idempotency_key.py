"""The `Idempotency-Key` header's syntax (draft sf-string or Stripe's bare token) and what is replayed."""

from __future__ import annotations

import pytest

from twostep.domain.idempotency import InvalidIdempotencyKey, parse_idempotency_key
from twostep.services.idempotency import IdempotentAnswer, replayable


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("abc", "abc"),
        ("  8e03978e-40d5-43e8-bc93-6894a57f9324 ", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"abc"', "abc"),  # the draft's quoted form names the same key as the bare one
        ('"a b"', "a b"),
        ('"say \\"hi\\" \\\\ bye"', 'say "hi" \\ bye'),
        ("x" * 255, "x" * 255),
    ],
)
def test_valid_keys(raw: str, key: str) -> None:
    assert parse_idempotency_key([raw]) == key


@pytest.mark.parametrize(
    "values",
    [
        [],
        [""],
        ['""'],
        ["a", "b"],
        ["x" * 256],
        ["a b"],
        ["caf\u00e9"],
        ["tab\there"],
        ['"bad \\n escape"'],
        ['"ends in \\"'],
        ['"inner " quote"'],
        ["\x7f"],
    ],
)
def test_invalid_keys(values: list[str]) -> None:
    with pytest.raises(InvalidIdempotencyKey) as refused:
        parse_idempotency_key(values)
    assert refused.value.field == "Idempotency-Key"


def test_what_is_replayed() -> None:
    assert [s for s in (200, 201, 202, 204) if replayable(s)] == [200, 201, 202, 204]
    assert [s for s in (400, 401, 403, 404, 410, 422) if replayable(s)] == [400, 401, 403, 404, 410, 422]
    assert not any(replayable(s) for s in (408, 409, 425, 429, 500, 502, 503, 504, 302))


def test_an_answer_round_trips() -> None:
    answer = IdempotentAnswer(202, (("content-type", "application/json"),), '{"a": "\u00e9"}')
    assert IdempotentAnswer.loads(answer.dumps()) == answer
