"""Destination rules: only numbers that can receive a text (mobile by default), at sign-up, before every
send and on the verification API; 422 `destination_not_allowed`, nothing sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, register, settings_for_tests
from tests.fraud.conftest import GUARD_ON, MakeGuarded, mobile
from twostep.api.app import create_app
from twostep.container import build
from twostep.domain.clock import FixedClock
from twostep.storage.memory import MemoryStorage

PREMIUM_US, PREMIUM_GB = "+19005551234", "+449091234567"
TOLL_FREE, FIXED_LINE, SATELLITE = "+18005551234", "+442071838750", "+8816123456789"


@pytest.mark.parametrize("number", [PREMIUM_US, PREMIUM_GB, TOLL_FREE, FIXED_LINE, SATELLITE])
def test_sign_up_refuses_numbers_that_are_not_mobile(guarded: MakeGuarded, number: str) -> None:
    container = guarded()
    with TestClient(create_app(container)) as client:
        answer = client.post(
            "/register",
            json={
                "firstName": "A",
                "lastName": "B",
                "email": "a@example.com",
                "password": PASSWORD,
                "phoneNumber": number,
            },
        )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["code"], body["rule"], body["field"]) == (
        "destination_not_allowed",
        "number_type_not_allowed",
        "phoneNumber",
    )
    assert number not in answer.text  # the refusal does not echo the number
    assert container.storage.list_outbox(last=10) == []


@pytest.mark.parametrize("number", [PREMIUM_US, TOLL_FREE, SATELLITE])
def test_verification_api_refuses_them_before_anything_is_stored(guarded: MakeGuarded, number: str) -> None:
    container = guarded()
    with TestClient(create_app(container)) as client:
        answer = client.post("/verifications", json={"auth_id": "a", "recipient": number})
        assert answer.status_code == 422, answer.text
        assert (answer.json()["reason"], answer.json()["code"]) == (
            "DestinationNotAllowed",
            "destination_not_allowed",
        )
        assert client.get("/verifications", params={"auth_id": "a", "code": "123456"}).status_code == 404
    assert container.storage.list_outbox(last=10) == []


def test_every_send_checks_again(tmp_path: Path, clock: FixedClock) -> None:
    """An account whose number type was allowed at sign-up gets no code once the rule forbids it."""
    storage = MemoryStorage()
    lenient = settings_for_tests(
        tmp_path, **GUARD_ON, sms_allowed_number_types="MOBILE,FIXED_LINE_OR_MOBILE,FIXED_LINE"
    )
    with TestClient(create_app(build(lenient, clock=clock, storage=storage))) as client:
        register(client, phone=FIXED_LINE)
    strict = build(settings_for_tests(tmp_path, **GUARD_ON), clock=clock, storage=storage)
    with TestClient(create_app(strict)) as client:
        login = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert login.status_code == 422, login.text
    assert login.json()["code"] == "destination_not_allowed"
    assert storage.list_outbox(last=10) == []


def test_operator_can_allow_more_types(guarded: MakeGuarded) -> None:
    container = guarded(sms_allowed_number_types="mobile,fixed_line_or_mobile,fixed_line")
    with TestClient(create_app(container)) as client:
        register(client, phone=FIXED_LINE)
        login = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert len(container.storage.list_outbox(to=FIXED_LINE)) == 1


def test_mobile_and_fixed_line_or_mobile_pass_by_default(guarded: MakeGuarded) -> None:
    container = guarded()
    with TestClient(create_app(container)) as client:
        for number in (mobile(1), "+12065551234"):
            assert (
                client.post("/verifications", json={"auth_id": number, "recipient": number}).status_code
                == 200
            )


def test_unknown_number_type_is_refused_at_start_up(guarded: MakeGuarded) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown number type"):
        guarded(sms_allowed_number_types="MOBILE,CELLPHONE")


@pytest.mark.parametrize("number", [PREMIUM_US, SATELLITE])
def test_an_empty_list_of_number_types_keeps_the_default(
    guarded: MakeGuarded, monkeypatch: pytest.MonkeyPatch, number: str
) -> None:
    """`TWOSTEP_SMS_ALLOWED_NUMBER_TYPES=` (an empty compose variable) was an empty list, which allowed every
    type: premium-rate and satellite numbers, where pumping goes, were texted again. Empty is now unset."""
    monkeypatch.setenv("TWOSTEP_SMS_ALLOWED_NUMBER_TYPES", "")
    container = guarded()
    with TestClient(create_app(container)) as client:
        answer = client.post("/verifications", json={"auth_id": "a", "recipient": number})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "destination_not_allowed"
    assert container.storage.list_outbox(last=10) == []
