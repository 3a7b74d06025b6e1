"""The language reaches every channel: a call reads the bundled voice text of the chosen language (its
digits one by one), a transaction code's text is the reader's, and operator texts still win."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register, sign_in
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.texts import fill
from twostep.texts import bundled_catalogue

TURKISH, GERMAN = "+905551234501", "+4915112345601"


def register_and_login(client: TestClient, phone: str, **extra: str) -> str:
    body = {"email": f"{phone[1:]}@example.com", "password": PASSWORD, "firstName": "A", "lastName": "B"}
    assert client.post("/register", json=body | {"phoneNumber": phone}).status_code == 201
    started = client.post("/login", json={"email": body["email"], "password": PASSWORD, **extra})
    assert started.status_code == 200, started.text
    return str(started.json()["otpId"])


def test_a_call_speaks_the_chosen_language(make_container: Callable[..., Container]) -> None:
    container = make_container()
    with TestClient(create_app(container)) as client:
        otp_id = register_and_login(client, TURKISH, locale="de")
        sent = client.post(f"/otp/{otp_id}/send", json={"channel": "voice", "locale": "ja"})
        assert sent.status_code == 202, sent.text
        again = client.post(f"/otp/{otp_id}/send", json={"channel": "voice"})  # no locale: the country's
        assert again.status_code == 202, again.text
    text, japanese, turkish = container.storage.list_outbox(to=TURKISH, last=3)
    assert (text.channel, japanese.channel, turkish.channel) == ("sms", "voice", "voice")
    assert " ist Ihr Anmeldecode für twostep." in text.body
    assert re.fullmatch(r"twostep の確認コードは \d(, \d){5} です。", japanese.body), japanese.body
    assert re.fullmatch(r"twostep kodunuz: \d(, \d){5}\.", turkish.body), turkish.body


def test_a_transaction_text_in_the_readers_language(make_container: Callable[..., Container]) -> None:
    container = make_container()
    with TestClient(create_app(container)) as client:
        for auth_id, extra in (("t1", {}), ("t2", {"locale": "fr"})):
            body = {"auth_id": auth_id, "recipient": GERMAN, "amount": "49.90 EUR", "payee": "ACME Shop"}
            created = client.post("/verifications", json=body | extra)
            assert created.status_code == 200, created.text
    german, french = (entry.body for entry in container.storage.list_outbox(to=GERMAN, last=2))
    assert german.endswith(
        " ist Ihr Code bei twostep, um 49.90 EUR an ACME Shop zu zahlen. Er ist 10 Minuten gültig."
        " Nicht weitergeben."
    )
    assert french.endswith(
        " est votre code twostep pour payer 49.90 EUR à ACME Shop. Il expire dans 10 minutes. Ne le partagez pas."
    )


def test_an_operator_template_wins_in_every_language(make_container: Callable[..., Container]) -> None:
    container = make_container(sms_template="{code} is your Acme code.")
    with TestClient(create_app(container)) as client:
        register_and_login(client, TURKISH, locale="de")
    (entry,) = container.storage.list_outbox(to=TURKISH, last=1)
    assert re.fullmatch(r"\d{6} is your Acme code\.", entry.body)


def test_account_codes_follow_the_locale_chain(client: TestClient, container: Container) -> None:
    register(client)  # a Turkish number
    tokens = sign_in(client, container)
    assert client.post("/password/forgot", json={"email": "test@example.com"}).status_code == 202
    (reset,) = container.storage.list_outbox(to=PHONE, last=1)
    turkish = bundled_catalogue().texts("tr").sms["account"]
    assert reset.body == fill(turkish, {"code": reset.body[:6], "org": "twostep"}), reset.body
    auth = {"Authorization": f"Bearer {tokens['accessToken']}"}
    assert client.put("/me/locale", json={"locale": "fr"}, headers=auth).status_code == 200
    body = {"phoneNumber": GERMAN, "currentPassword": PASSWORD}
    assert client.post("/me/phone", json=body, headers=auth).status_code == 202
    (change,) = container.storage.list_outbox(to=GERMAN, last=1)  # the account's language beats the country's
    assert change.body.endswith(
        " est votre code twostep pour confirmer une modification de votre compte. Ne le partagez pas."
    ), change.body
