"""The delivery policy on its own: retry once only what is retryable, then the next provider, in order."""

from __future__ import annotations

import pytest

from twostep.domain.errors import SmsDeliveryError
from twostep.sms.failover import FailoverSender


class ScriptedSender:
    """Raises the scripted errors in turn, then accepts; counts every call."""

    def __init__(self, name: str, *failures: SmsDeliveryError) -> None:
        self.name = name
        self._failures = list(failures)
        self.calls = 0

    def send(self, to: str, body: str) -> str:
        self.calls += 1
        if self._failures:
            raise self._failures.pop(0)
        return f"{self.name}-id"


def failure(reason: str, *, retryable: bool = False) -> SmsDeliveryError:
    return SmsDeliveryError(reason, provider="x", retryable=retryable)


def test_first_provider_that_accepts_wins_and_later_ones_are_not_called() -> None:
    first, second = ScriptedSender("a"), ScriptedSender("b")

    assert FailoverSender([first, second]).send("+12065551234", "hi") == "a-id"
    assert (first.calls, second.calls) == (1, 0)


def test_retryable_failure_is_retried_once_on_the_same_provider() -> None:
    first = ScriptedSender("a", failure("provider_error", retryable=True))

    assert FailoverSender([first]).send("+12065551234", "hi") == "a-id"
    assert first.calls == 2


@pytest.mark.parametrize("reason", ["timeout", "rejected_number", "auth", "provider_error"])
def test_non_retryable_failure_moves_on_at_once(reason: str) -> None:
    first, second = ScriptedSender("a", failure(reason)), ScriptedSender("b")

    assert FailoverSender([first, second]).send("+12065551234", "hi") == "b-id"
    assert (first.calls, second.calls) == (1, 1)


def test_all_failing_raises_the_last_reason_naming_every_provider() -> None:
    always_down = [failure("provider_error", retryable=True)] * 2
    first = ScriptedSender("a", *always_down)
    second = ScriptedSender("b", failure("timeout"))

    with pytest.raises(SmsDeliveryError) as raised:
        FailoverSender([first, second]).send("+12065551234", "hi")

    assert (raised.value.reason, raised.value.provider) == ("timeout", "a+b")
    assert (first.calls, second.calls) == (2, 1)


def test_no_senders_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one sender"):
        FailoverSender([])
