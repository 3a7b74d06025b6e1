"""VerificationService: Flowroute sms-verification's create/check with sign-in code rules and a budget re-POSTs cannot reset."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import settings_for_tests
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import (
    ChallengeExhausted,
    ChallengeExpired,
    ChallengeNotFound,
    ChallengeUsed,
    InvalidInput,
    InvalidPhoneNumber,
    RateLimited,
    SmsDeliveryError,
    WrongCode,
)
from twostep.domain.otp import CodeHasher
from twostep.domain.ports import Storage
from twostep.services.verification import VerificationService, verification_id
from twostep.storage.memory import MemoryStorage

PHONE = "+14155552671"
OTHER_PHONE = "+14155552672"


class SwitchableSender:
    """Keeps what it sent; fails with a delivery error while `failing` is set."""

    name = "switchable"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failing = False

    def send(self, to: str, body: str) -> str:
        if self.failing:
            raise SmsDeliveryError("provider_error", self.name)
        self.sent.append((to, body))
        return "id"

    def last_code(self, to: str = PHONE) -> str:
        bodies = [body for number, body in self.sent if number == to]
        assert bodies, f"nothing sent to {to}"
        match = re.match(r"\d+", bodies[-1])
        assert match is not None
        return match.group(0)


@pytest.fixture
def sender() -> SwitchableSender:
    return SwitchableSender()


@pytest.fixture
def built(tmp_path: Path, clock: FixedClock, sender: SwitchableSender) -> Iterator[Container]:
    container = build(settings_for_tests(tmp_path), clock=clock, storage=MemoryStorage(), sender=sender)
    yield container
    container.close()


@pytest.fixture
def service(built: Container) -> VerificationService:
    return built.verification


def wrong(code: str) -> str:
    return "0" * len(code) if code != "0" * len(code) else "1" * len(code)


def test_create_texts_a_code_with_the_org_name_and_stores_only_an_hmac(
    service: VerificationService, sender: SwitchableSender, built: Container
) -> None:
    created = service.create("order-42", PHONE)
    code = sender.last_code()
    assert len(code) == 6
    assert "twostep" in sender.sent[-1][1]
    assert created.attempts_left == 3
    stored = built.storage.get_challenge(verification_id("order-42"))
    assert stored is not None and stored.purpose == "verify"
    assert code not in stored.code_hmac and stored.code_hmac != code


def test_wrong_code_counts_down_then_right_code_works_once(
    service: VerificationService, sender: SwitchableSender
) -> None:
    service.create("a", PHONE)
    code = sender.last_code()
    with pytest.raises(WrongCode) as first:
        service.check("a", wrong(code))
    assert first.value.attempts_remaining == 2
    assert service.check("a", code).auth_id == "a"
    with pytest.raises(ChallengeUsed):
        service.check("a", code)


def test_unknown_auth_id_is_not_found_and_costs_the_same_hmac(
    built: Container, service: VerificationService, clock: FixedClock
) -> None:
    calls: list[str] = []

    class CountingHasher(CodeHasher):
        def digest(self, challenge_id: str, code: str, binding: str = "") -> str:
            calls.append(challenge_id)
            return super().digest(challenge_id, code, binding)

    counting = VerificationService(
        codes=built.codes,
        challenges=built.storage,
        counters=built.storage,
        hasher=CountingHasher(b"k" * 32),
        limits=built.limits,
        audit=built.audit,
        clock=clock,
        policy=service.policy,
    )
    with pytest.raises(ChallengeNotFound):
        counting.check("never-created", "123456")
    assert calls == [verification_id("never-created")]


def test_code_expires(service: VerificationService, sender: SwitchableSender, clock: FixedClock) -> None:
    service.create("a", PHONE, expiration=30)
    clock.advance(30)
    with pytest.raises(ChallengeExpired):
        service.check("a", sender.last_code())


def test_retries_are_the_budget(service: VerificationService, sender: SwitchableSender) -> None:
    service.create("a", PHONE, retries=2)
    code = sender.last_code()
    with pytest.raises(WrongCode):
        service.check("a", wrong(code))
    with pytest.raises(WrongCode) as last:
        service.check("a", wrong(code))
    assert last.value.attempts_remaining == 0
    with pytest.raises(ChallengeExhausted):
        service.check("a", code)


def test_re_create_sends_a_new_code_and_keeps_the_attempts(
    service: VerificationService, sender: SwitchableSender
) -> None:
    service.create("a", PHONE)
    old = sender.last_code()
    with pytest.raises(WrongCode):
        service.check("a", wrong(old))
    again = service.create("a", PHONE)
    assert again.attempts_left == 2
    new = sender.last_code()
    with pytest.raises(WrongCode) as answer:
        service.check("a", wrong(new))
    assert answer.value.attempts_remaining == 1
    assert service.check("a", new).auth_id == "a"


def test_re_create_cannot_raise_the_budget(service: VerificationService, sender: SwitchableSender) -> None:
    service.create("a", PHONE, retries=2)
    with pytest.raises(WrongCode):
        service.check("a", wrong(sender.last_code()))
    assert service.create("a", PHONE, retries=10).attempts_left == 1


def test_new_recipient_gets_a_fresh_code_but_carries_the_attempts(
    service: VerificationService, sender: SwitchableSender
) -> None:
    service.create("a", PHONE)
    old = sender.last_code()
    with pytest.raises(WrongCode):
        service.check("a", wrong(old))
    assert service.create("a", OTHER_PHONE).attempts_left == 2
    new = sender.last_code(OTHER_PHONE)
    with pytest.raises(WrongCode) as answer:
        service.check("a", wrong(new))
    assert answer.value.attempts_remaining == 1
    assert service.check("a", new).auth_id == "a"


def test_new_code_length_is_honoured_and_carries_the_attempts(
    service: VerificationService, sender: SwitchableSender
) -> None:
    service.create("a", PHONE)
    with pytest.raises(WrongCode):
        service.check("a", wrong(sender.last_code()))
    assert service.create("a", PHONE, code_length=8).attempts_left == 2
    assert len(sender.last_code()) == 8


def test_exhausted_id_is_refused_until_it_expires_then_starts_fresh(
    service: VerificationService, sender: SwitchableSender, clock: FixedClock
) -> None:
    service.create("a", PHONE, retries=1, expiration=60)
    with pytest.raises(WrongCode):
        service.check("a", wrong(sender.last_code()))
    for recipient in (PHONE, OTHER_PHONE):
        with pytest.raises(RateLimited) as refused:
            service.create("a", recipient)
        assert refused.value.retry_after == 60
    clock.advance(60)
    assert service.create("a", PHONE).attempts_left == 3


def test_used_id_starts_fresh(service: VerificationService, sender: SwitchableSender) -> None:
    service.create("a", PHONE)
    code = sender.last_code()
    with pytest.raises(WrongCode):
        service.check("a", wrong(code))
    service.check("a", code)
    assert service.create("a", PHONE).attempts_left == 3


def test_failed_delivery_to_a_new_number_keeps_the_previous_code(
    service: VerificationService, sender: SwitchableSender
) -> None:
    service.create("a", PHONE)
    old = sender.last_code()
    with pytest.raises(WrongCode):
        service.check("a", wrong(old))
    sender.failing = True
    with pytest.raises(SmsDeliveryError):
        service.create("a", OTHER_PHONE)
    with pytest.raises(WrongCode) as answer:
        service.check("a", wrong(old))
    assert answer.value.attempts_remaining == 1
    assert service.check("a", old).auth_id == "a"


def test_failed_delivery_of_a_first_code_leaves_nothing_usable(
    service: VerificationService, sender: SwitchableSender, built: Container
) -> None:
    sender.failing = True
    with pytest.raises(SmsDeliveryError):
        service.create("a", PHONE)
    with pytest.raises(ChallengeExpired):
        service.check("a", "123456")


def test_a_create_in_progress_refuses_a_second_one(service: VerificationService, built: Container) -> None:
    storage: Storage = built.storage
    key = f"verify-lock:{verification_id('a')}"
    now = built.clock.now()
    storage.increment_counter(key, 1, now, now.replace(year=now.year + 1))
    with pytest.raises(RateLimited) as refused:
        service.create("a", PHONE)
    assert refused.value.limit == "verification_in_progress"
    storage.delete_counter(key)
    service.create("a", PHONE)
    assert storage.get_counter(key, now) is None  # released after use


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"code_length": 3}, "code_length"),
        ({"code_length": 11}, "code_length"),
        ({"expiration": 29}, "expiration"),
        ({"expiration": 601}, "expiration"),
        ({"retries": 0}, "retries"),
        ({"retries": 11}, "retries"),
        ({"message": "no placeholder"}, "message"),
        ({"message": "{code}" + "x" * 400}, "message"),
        ({"message": "{code}\x00"}, "message"),
    ],
)
def test_values_out_of_bounds_name_the_field(
    service: VerificationService, sender: SwitchableSender, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.create("a", PHONE, **options)
    assert refused.value.field == field
    assert sender.sent == []


@pytest.mark.parametrize("auth_id", ["", "x" * 121, "tab\there", "line\nbreak"])
def test_bad_auth_ids_are_refused(service: VerificationService, auth_id: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.create(auth_id, PHONE)
    assert refused.value.field == "auth_id"


@pytest.mark.parametrize("recipient", ["4155552671", "+1415", "call me", "+999999999999"])
def test_bad_recipients_are_refused(service: VerificationService, recipient: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as refused:
        service.create("a", recipient)
    assert refused.value.field == "recipient"


def test_flowroute_eleven_digit_numbers_and_any_auth_id_string_work(
    service: VerificationService, sender: SwitchableSender
) -> None:
    auth_id = "ünïcode / slashes ? & = " + "x" * 96
    service.create(auth_id, "14155552671", message="{code}\nWelcome to {org}! ({minutes} min)")
    assert sender.sent[-1][1].endswith("Welcome to twostep! (10 min)")
    assert service.check(auth_id, sender.last_code()).auth_id == auth_id


def test_a_code_typed_as_a_number_without_its_leading_zeros_matches(
    service: VerificationService, sender: SwitchableSender, built: Container
) -> None:
    service.create("a", PHONE)
    challenge_id = verification_id("a")
    stored = built.storage.get_challenge(challenge_id)
    assert stored is not None
    known = CodeHasher(built.keys.otp_hmac_key).digest(challenge_id, "012345")
    built.storage.put_challenge(replace(stored, code_hmac=known))
    assert service.check("a", "12345").auth_id == "a"


# Superscripts are digits to `str.isdigit` but no number to `int()`; full-width digits are read (see
# tests/functional/test_verification_api.py).
@pytest.mark.parametrize("code", ["", "12a456", "\u00b9\u00b2\u00b3\u00b9\u00b2\u00b3", "12345678901"])
def test_malformed_codes_are_bad_input_and_cost_no_attempt(
    service: VerificationService, sender: SwitchableSender, code: str
) -> None:
    service.create("a", PHONE)
    with pytest.raises(InvalidInput) as refused:
        service.check("a", code)
    assert refused.value.field == "code"
    with pytest.raises(WrongCode) as answer:
        service.check("a", wrong(sender.last_code()))
    assert answer.value.attempts_remaining == 2


def test_audit_trail_records_create_success_and_failure(
    service: VerificationService, sender: SwitchableSender, built: Container
) -> None:
    service.create("a", PHONE)
    code = sender.last_code()
    with pytest.raises(WrongCode):
        service.check("a", wrong(code))
    service.check("a", code)
    events = [event.event for event in built.audit.tail()]
    assert events.count("verification_created") == 1
    assert events.count("verification_failed") == 1
    assert events.count("verification_succeeded") == 1
