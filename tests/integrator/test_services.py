"""Transaction codes and test numbers through the services (memory storage, a recording sender)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.conftest import settings_for_tests
from tests.unit.test_verification_service import SwitchableSender
from twostep.client import SMSAuthClient
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import CodeBound, InvalidInput, WrongCode
from twostep.domain.otp import is_bound
from twostep.domain.transaction import Transaction
from twostep.services.transaction_text import bind_transaction
from twostep.services.verification import verification_id
from twostep.storage.memory import MemoryStorage

PHONE = "+14155552671"
PAY = Transaction("49.90 EUR", "ACME Shop")


@pytest.fixture
def sender() -> SwitchableSender:
    return SwitchableSender()


@pytest.fixture
def built(tmp_path: Path, clock: FixedClock, sender: SwitchableSender) -> Iterator[Container]:
    settings = settings_for_tests(tmp_path, test_numbers="+14155550100:246810")
    container = build(settings, clock=clock, storage=MemoryStorage(), sender=sender)
    yield container
    container.close()


def test_a_bound_code_is_never_replaced_by_an_unbound_one(built: Container, sender: SwitchableSender) -> None:
    """An automatic fallback (a resend that does not know the transaction) cannot unbind the code."""
    built.verification.create("pay-1", PHONE, transaction=PAY)
    challenge = built.storage.get_challenge(verification_id("pay-1"))
    assert challenge is not None and is_bound(challenge.code_hmac)
    unbound = built.verification.code_spec()
    with pytest.raises(CodeBound):
        built.codes.replace(challenge, unbound)
    assert len(sender.sent) == 1  # nothing went out
    built.verification.check("pay-1", sender.last_code(), transaction=Transaction("49.9 EUR", "ACME Shop"))


def test_a_re_create_without_the_transaction_starts_an_unbound_code_keeping_the_attempts(
    built: Container, sender: SwitchableSender
) -> None:
    built.verification.create("pay-2", PHONE, transaction=PAY, retries=5)
    with pytest.raises(WrongCode):
        built.verification.check("pay-2", sender.last_code())  # without the transaction: wrong
    created = built.verification.create("pay-2", PHONE)
    assert created.attempts_left == 4
    with pytest.raises(WrongCode):
        built.verification.check("pay-2", sender.last_code(), transaction=PAY)
    built.verification.check("pay-2", sender.last_code())


def test_a_re_create_for_another_transaction_binds_the_new_one(
    built: Container, sender: SwitchableSender
) -> None:
    built.verification.create("pay-3", PHONE, transaction=PAY)
    other = Transaction("12 EUR", "Other Shop")
    built.verification.create("pay-3", PHONE, transaction=other)
    assert "12 EUR" in sender.sent[-1][1] and "Other Shop" in sender.sent[-1][1]
    with pytest.raises(WrongCode):
        built.verification.check("pay-3", sender.last_code(), transaction=PAY)
    built.verification.check("pay-3", sender.last_code(), transaction=other)


def test_transactions_go_by_sms_only(built: Container) -> None:
    spec = replace(built.verification.code_spec(), channel="voice")
    with pytest.raises(InvalidInput) as refused:
        bind_transaction(spec, PAY, own_message=False)
    assert refused.value.field == "channel"


def test_a_test_number_has_its_fixed_code_at_any_length_and_nothing_is_sent(
    built: Container, sender: SwitchableSender
) -> None:
    built.verification.create("t-1", "+14155550100", code_length=8)
    assert sender.sent == []
    with pytest.raises(WrongCode):
        built.verification.check("t-1", "246811")
    built.verification.check("t-1", "246810")


def test_the_python_client_sends_the_transaction_with_the_check() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"authenticated": True, "auth_id": "p", "message": "ok"})

    with SMSAuthClient("http://verify.test", transport=httpx.MockTransport(answer)) as client:
        client.create_auth("p", PHONE, amount="49.90 EUR", payee="ACME Shop")
        client.authenticate_code("p", "123456", amount="49.90 EUR", payee="ACME Shop")
        client.authenticate_code("p", "123456")
    created, bound, plain = seen
    assert json.loads(created.content) | {"amount": "49.90 EUR", "payee": "ACME Shop"} == json.loads(
        created.content
    )
    assert dict(bound.url.params) == {
        "auth_id": "p",
        "code": "123456",
        "amount": "49.90 EUR",
        "payee": "ACME Shop",
    }
    assert dict(plain.url.params) == {"auth_id": "p", "code": "123456"}
