"""Emailed codes and the notices of account changes in the reader's language, by the locale chain of the
texted codes: the request's language, the account's stored one, its number's country, the default. A
notice goes to the owner, so its chain leaves the request's language out (whoever holds a session does not
choose the language the owner is warned in)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, sign_in
from twostep.container import Container

GERMAN, AMERICAN = "+4915112345601", "+14155552671"


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def last_email(container: Container, to: str = "test@example.com") -> tuple[str, str]:
    """The subject and body of the last email to `to` (the console provider writes `Subject:` first)."""
    entries = [e for e in container.storage.list_outbox(to=to, last=10) if e.channel == "email"]
    assert entries, f"no email to {to}"
    head, _, body = entries[-1].body.partition("\n\n")
    return head.removeprefix("Subject: "), body


def code_in(body: str) -> str:
    match = re.match(r"\d{4,10}\b", body)
    assert match is not None, body
    return match.group(0)


def signed_in(client: TestClient, container: Container, phone: str) -> dict[str, Any]:
    register(client, phone=phone)
    return sign_in(client, container, phone=phone)


def verify_email(client: TestClient, container: Container, tokens: dict[str, Any], **headers: str) -> str:
    """Proves the address; returns the subject of the emailed code."""
    started = client.post("/me/email/verify/start", headers=bearer(tokens) | headers)
    assert started.status_code == 202, started.text
    subject, body = last_email(container)
    body_json = {"changeId": started.json()["changeId"], "code": code_in(body)}
    assert client.post("/me/email/verify", json=body_json, headers=bearer(tokens)).status_code == 200
    return subject


def test_an_emailed_code_follows_the_number_country(client: TestClient, container: Container) -> None:
    tokens = signed_in(client, container, GERMAN)

    subject = verify_email(client, container, tokens)

    assert subject == "Ihr Code für twostep"
    _, body = last_email(container)
    assert re.fullmatch(r"\d{6} ist Ihr Code für twostep\. Er ist \d+ Minuten gültig\. .+", body)
    assert "@" not in body  # no WebOTP line: no browser reads one from an email


def test_the_request_language_comes_first(client: TestClient, container: Container) -> None:
    tokens = signed_in(client, container, GERMAN)

    subject = verify_email(client, container, tokens, **{"Accept-Language": "fr-CH, en;q=0.5"})

    assert subject == "Votre code twostep"


def test_the_stored_language_beats_the_number_country(client: TestClient, container: Container) -> None:
    tokens = signed_in(client, container, GERMAN)
    assert client.put("/me/locale", json={"locale": "ja"}, headers=bearer(tokens)).status_code == 200
    verify_email(client, container, tokens)

    change = {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase here"}
    assert client.post("/me/password", json=change, headers=bearer(tokens)).status_code in (200, 204)

    subject, body = last_email(container)
    assert subject == "【twostep】アカウントが変更されました"
    assert body.startswith("【twostep】アカウントのパスワードが変更されました。")


def test_a_reset_code_by_email_has_the_reset_subject(client: TestClient, container: Container) -> None:
    tokens = signed_in(client, container, AMERICAN)
    verify_email(client, container, tokens)

    forgot = {"email": "test@example.com", "channel": "email"}
    assert client.post("/password/forgot", json=forgot, headers={"Accept-Language": "es"}).status_code == 202

    subject, body = last_email(container)
    assert subject == "Tu código de twostep para restablecer la contraseña"
    assert body.startswith(f"{code_in(body)} es tu código de twostep.")


def test_a_phone_change_notice_by_sms_and_email(client: TestClient, container: Container) -> None:
    tokens = signed_in(client, container, AMERICAN)
    verify_email(client, container, tokens)
    headers = bearer(tokens) | {"Accept-Language": "nl"}
    started = client.post(
        "/me/phone", json={"phoneNumber": GERMAN, "currentPassword": PASSWORD}, headers=headers
    )
    assert started.status_code == 202, started.text
    done = {"changeId": started.json()["changeId"], "code": latest_code(container, GERMAN)}
    assert client.post("/me/phone/verify", json=done, headers=headers).status_code == 200

    notice = "twostep: your account's phone number is now +49*********01."  # the number's country, not `nl`
    (texted,) = container.storage.list_outbox(to=AMERICAN, last=1)
    assert texted.body.startswith(notice) and texted.channel == "sms"
    subject, body = last_email(container)
    assert (subject, body.startswith(notice)) == ("twostep: your account was changed", True)


def test_a_notice_is_in_the_owners_language_not_the_requesters(
    client: TestClient, container: Container
) -> None:
    tokens = signed_in(client, container, AMERICAN)
    assert client.put("/me/locale", json={"locale": "de"}, headers=bearer(tokens)).status_code == 200
    verify_email(client, container, tokens)

    change = {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase here"}
    headers = bearer(tokens) | {"Accept-Language": "ja"}
    assert client.post("/me/password", json=change, headers=headers).status_code in (200, 204)

    subject, body = last_email(container)
    assert subject == "twostep: Ihr Konto wurde geändert"
    assert body.startswith("twostep: Das Passwort Ihres Kontos wurde geändert.")
