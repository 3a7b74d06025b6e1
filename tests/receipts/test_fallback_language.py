"""The automatic fallback speaks (or writes) the language the failed text was written in: the one the
request asked for (`Accept-Language`, a verification's locale), not the account's stored language or the
number's country. A record kept before the language was stored falls back to the account's language."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.receipts.test_fallback import PHONE, code_of, fail_latest, messages
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.models import RequestContext
from twostep.domain.receipts import Receipt

USER = {"firstName": "A", "lastName": "L", "email": "tr@example.com", "password": "correct horse battery"}


def sign_in(app: Container, api: TestClient, headers: dict[str, str]) -> str:
    """Register an account that reads Japanese (with a German number) and start its sign-in."""
    registered = api.post("/register", json=USER | {"phoneNumber": PHONE, "locale": "ja"})
    assert registered.status_code == 201, registered.text
    started = api.post("/login", json={"email": USER["email"], "password": USER["password"]}, headers=headers)
    assert started.status_code == 200, started.text
    otp_id: str = started.json()["otpId"]
    return otp_id


def test_a_sign_in_fallback_call_speaks_the_language_the_request_asked_for(
    make_container: Callable[..., Container],
) -> None:
    app = make_container(storage="sqlite", fallback_channels=["voice"])
    with TestClient(create_app(app)) as api:
        otp_id = sign_in(app, api, {"Accept-Language": "tr, en;q=0.5"})
        (text,) = messages(app, "sms")
        assert re.match(r"\d{6} twostep giriş kodunuz\. ", text), text
        texted = app.storage.latest_delivery(otp_id)
        assert texted is not None and texted.language == "tr"
        app.receipts.apply(Receipt(texted.provider, texted.message_id, "failed"))  # type: ignore[union-attr]
        # Turkish, as the text was: not the account's Japanese, nor the German of the number.
        (call,) = messages(app, "voice")
        assert re.fullmatch(r"twostep kodunuz: \d(, \d){5}\.", call), call
        verified = api.post(f"/otp/{otp_id}/verify", json={"otp": code_of(call)})
        assert verified.status_code == 200, verified.text
    fallback = app.storage.latest_delivery(otp_id)
    assert fallback is not None and fallback.channel == "voice" and fallback.language == "tr"


def test_a_verification_fallback_message_is_in_the_requested_language(
    make_container: Callable[..., Container],
) -> None:
    app = make_container(storage="sqlite", fallback_channels=["whatsapp"])
    app.verification.create("fb-tr", PHONE, ctx=RequestContext(locales=("tr",)))
    (text,) = messages(app, "sms")
    assert "doğrulama kodunuz" in text, text
    assert fail_latest(app, "fb-tr") == "recorded"
    (whatsapp,) = messages(app, "whatsapp")
    assert "doğrulama kodunuz" in whatsapp, whatsapp  # Turkish, where the German number says German
    assert app.verification.check("fb-tr", code_of(whatsapp)).auth_id == "fb-tr"


def test_a_record_without_a_language_falls_back_to_the_account_language(
    make_container: Callable[..., Container],
) -> None:
    app = make_container(storage="sqlite", fallback_channels=["voice"])
    with TestClient(create_app(app)) as api:
        otp_id = sign_in(app, api, {"Accept-Language": "tr"})
    # As a record kept before the language was stored reads (migration step 16 left it NULL).
    app.storage._execute("UPDATE deliveries SET language = NULL WHERE challenge_id = ?", (otp_id,))  # type: ignore[attr-defined]
    texted = app.storage.latest_delivery(otp_id)
    assert texted is not None and texted.language is None
    app.receipts.apply(Receipt(texted.provider, texted.message_id, "failed"))  # type: ignore[union-attr]
    (call,) = messages(app, "voice")
    assert re.fullmatch(r"twostep の確認コードは \d(, \d){5} です。", call), call
