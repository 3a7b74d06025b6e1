"""Account notices by SMS ("your number was changed") pass the fraud guard's block and the budgets like
any text, have their own daily cap per account, and leave the number's code caps and the prefix's
conversion count alone."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register, sign_in
from tests.fraud.conftest import MakeGuarded, mobile
from tests.fraud.test_prefix_guard import PUMPED, SETTINGS, send
from tests.functional.test_account_lifecycle import bearer, email_code, verify_email
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.errors import DestinationBlocked, RateLimited
from twostep.domain.identity import E164

NOTICE = "twostep: the phone number of your account is now +90********66."


def notice(container: Container, phone: str, account: str = "user-1") -> None:
    container.codes.send_notice_sms(E164(phone), NOTICE, account)


def texts_to(container: Container, phone: str) -> int:
    return len(container.storage.list_outbox(to=phone, last=100))


def test_a_notice_takes_from_the_hourly_message_budget_not_the_numbers_code_caps(
    guarded: MakeGuarded,
) -> None:
    container = guarded(sms_hourly_budget=3, sms_per_number_10min=1, resend_cooldown_seconds=30)
    phone = mobile(1)
    notice(container, phone)
    notice(container, phone)  # neither the number's 10-minute cap of 1 nor its cooldown applies
    container.limits.reserve_sms(phone)  # and the number's code caps are untouched
    with pytest.raises(RateLimited) as refused:
        notice(container, phone)
    assert refused.value.limit == "sms_hourly_budget"
    assert texts_to(container, phone) == 2


def test_notices_per_account_per_day(guarded: MakeGuarded) -> None:
    container = guarded(account_sms_per_day=2)
    phone = mobile(2)
    notice(container, phone)
    notice(container, phone)
    with pytest.raises(RateLimited) as refused:
        notice(container, phone)
    assert refused.value.limit == "account_notice_day"
    notice(container, phone, account="user-2")  # another account has its own count
    container.limits.reserve_sms(phone, account="user-1")  # the account's codes are not used up


def test_a_blocked_prefix_gets_no_notice(guarded: MakeGuarded) -> None:
    container = guarded(**SETTINGS)
    assert [send(container, mobile(i, PUMPED)) for i in range(11)][-1] == "destination_blocked"
    with pytest.raises(DestinationBlocked):
        notice(container, mobile(50, PUMPED))
    assert texts_to(container, mobile(50, PUMPED)) == 0


def test_a_notice_is_not_a_send_for_the_fraud_guard(guarded: MakeGuarded) -> None:
    container = guarded(**SETTINGS, account_sms_per_day=100)
    for i in range(15):  # more than the guard's minimum of sends, none of them can convert
        notice(container, mobile(i, PUMPED))
    assert container.fraud.blocked() == []
    assert send(container, mobile(99, PUMPED)) == "sent"


def test_a_refused_notice_does_not_undo_the_change(guarded: MakeGuarded) -> None:
    container = guarded(ip_sms_per_hour=100, account_sms_per_day=100, sms_hourly_budget=3)
    with TestClient(create_app(container)) as client:
        register(client)
        tokens = sign_in(client, container)  # the phone is proven (text 1 of 3)
        verify_email(client, container, tokens, "test@example.com")
        started = client.post(
            "/me/email",
            json={"email": "new@example.com", "currentPassword": PASSWORD},
            headers=bearer(tokens),
        )
        container.limits.reserve_sms(mobile(3))  # someone else's codes use up the hour (texts 2, 3)
        container.limits.reserve_sms(mobile(4))
        before = texts_to(container, PHONE)
        done = client.post(
            "/me/email/verify",
            json={"changeId": started.json()["changeId"], "code": email_code(container, "new@example.com")},
            headers=bearer(tokens),
        )
    assert done.status_code == 200 and done.json()["email"] == "new@example.com", done.text
    assert texts_to(container, PHONE) == before  # no notice by text: the hour's budget is spent
    assert "n**@example.com" in container.storage.list_outbox(to="test@example.com", last=1)[-1].body
    failed = [e for e in container.storage.list_audit(limit=100) if e.event == "code_delivery_failed"]
    assert [(e.detail["purpose"], e.detail["reason"]) for e in failed] == [("notice", "rate_limited")]
