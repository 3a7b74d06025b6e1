"""Done means, against a live `twostep serve` texting to the console outbox: a German number gets the
German text and a Turkish one the Turkish text, each within its segment budget; a request's `locale`
beats the account's language, which beats the number's country; the app-hash line is there when set;
and start-up refuses an over-budget template with one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import ServerProcess, code_in, free_port, run_cli, server_env
from twostep.domain.segments import count_segments

PASSWORD = "correct horse battery staple"
HASH = "FA+9qCX9VSu"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(
        tmp_path_factory.mktemp("locales-live"), TWOSTEP_SMS_PER_NUMBER_10MIN="1000"
    ) as running:
        yield running


def post(
    server: ServerProcess, path: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, headers=headers, timeout=30)


def register(server: ServerProcess, email: str, phone: str, **extra: str) -> dict[str, Any]:
    body = {"email": email, "password": PASSWORD, "firstName": "A", "lastName": "B", "phoneNumber": phone}
    answer = post(server, "/register", body | extra)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def login(server: ServerProcess, email: str, headers: dict[str, str] | None = None, **extra: str) -> str:
    """The new sign-in's otpId."""
    answer = post(server, "/login", {"email": email, "password": PASSWORD, **extra}, **(headers or {}))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["otpId"])


def texts_to(server: ServerProcess, phone: str, count: int) -> list[str]:
    entries = server.outbox(phone, last=count)
    assert len(entries) == count
    return [str(entry["body"]) for entry in entries]


def test_the_numbers_country_chooses_the_language_within_one_segment(server: ServerProcess) -> None:
    german_number, turkish_number, swedish_number = "+4915112345670", "+905551112230", "+46701234560"
    for email, phone in (
        ("de@example.com", german_number),
        ("tr@example.com", turkish_number),
        ("se@example.com", swedish_number),
    ):
        register(server, email, phone)
        login(server, email)
    (german,) = texts_to(server, german_number, 1)
    (turkish,) = texts_to(server, turkish_number, 1)
    (english,) = texts_to(server, swedish_number, 1)  # no Swedish texts: TWOSTEP_DEFAULT_LOCALE (en)
    assert german == (
        f"{code_in(german)} ist Ihr Anmeldecode für twostep. Er ist 2 Minuten gültig. Geben Sie ihn nicht weiter."
    )
    assert turkish == f"{code_in(turkish)} twostep giriş kodunuz. Paylaşmayın."  # noqa: RUF001
    assert english.startswith(f"{code_in(english)} is your twostep sign-in code.")
    assert (count_segments(german).encoding, count_segments(german).count) == ("gsm7", 1)
    assert (count_segments(turkish).encoding, count_segments(turkish).count) == ("ucs2", 1)


def test_request_beats_account_beats_country(server: ServerProcess) -> None:
    phone = "+4915112345671"
    assert register(server, "pref@example.com", phone, locale="it")["locale"] == "it"
    login(server, "pref@example.com")  # the account's Italian beats the number's German
    login(server, "pref@example.com", locale="fr")  # the body's French beats both
    login(server, "pref@example.com", locale="sv")  # no Swedish texts: on to the account's Italian
    otp_id = login(server, "pref@example.com", headers={"Accept-Language": "nl;q=0.5, pl"})  # Polish first
    resent = post(server, f"/otp/{otp_id}/resend", {"locale": "es"})
    assert resent.status_code == 202, resent.text
    italian, french, italian_again, polish, spanish = texts_to(server, phone, 5)
    assert " è il tuo codice di accesso a twostep." in italian
    assert " est votre code de connexion twostep." in french
    assert " è il tuo codice di accesso a twostep." in italian_again
    assert " to kod logowania do twostep." in polish
    assert " es tu clave para acceder a twostep." in spanish

    # the account API changes the account's language; null forgets it (the country decides again)
    signed = post(server, f"/otp/{otp_id}/verify", {"otp": code_in(spanish)})
    assert signed.status_code == 200, signed.text
    bearer = {"Authorization": f"Bearer {signed.json()['accessToken']}"}
    changed = httpx.put(f"{server.base_url}/me/locale", json={"locale": "ja"}, headers=bearer, timeout=30)
    assert (changed.status_code, changed.json()["locale"]) == (200, "ja")
    login(server, "pref@example.com")
    cleared = httpx.put(f"{server.base_url}/me/locale", json={"locale": None}, headers=bearer, timeout=30)
    assert (cleared.status_code, cleared.json()["locale"]) == (200, None)
    login(server, "pref@example.com")
    japanese, german = texts_to(server, phone, 2)
    assert "のログインコードです。" in japanese and "ist Ihr Anmeldecode" in german


def test_malformed_locales_are_a_400_problem(server: ServerProcess) -> None:
    register(server, "bad@example.com", "+4915112345672")
    for path, body in (
        ("/login", {"email": "bad@example.com", "password": PASSWORD, "locale": "not a tag"}),
        (
            "/register",
            {
                "email": "b2@example.com",
                "password": PASSWORD,
                "firstName": "A",
                "lastName": "B",
                "phoneNumber": "+4915112345679",
                "locale": "x",
            },
        ),
    ):
        answer = post(server, path, body)
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert (answer.json()["code"], answer.json()["field"]) == ("invalid_input", "locale")
    refused = post(server, "/verifications", {"auth_id": "a", "recipient": "+905551112231", "locale": "??"})
    assert refused.status_code == 400 and refused.json()["field"] == "locale"
    assert server.outbox("+905551112231") == []  # refused before anything was sent


def test_verification_texts_follow_the_chain(server: ServerProcess) -> None:
    turkish_number = "+905551112232"
    assert post(server, "/verifications", {"auth_id": "v1", "recipient": turkish_number}).status_code == 200
    asked = {"auth_id": "v2", "recipient": turkish_number, "locale": "de"}
    assert post(server, "/verifications", asked).status_code == 200
    own = {"auth_id": "v3", "recipient": turkish_number, "message": "{code} is your shop code"}
    assert post(server, "/verifications", own).status_code == 200  # the request's own text wins
    turkish, german, message = texts_to(server, turkish_number, 3)
    assert turkish == f"{code_in(turkish)} twostep doğrulama kodunuz."
    assert german.startswith(f"{code_in(german)} ist Ihr Bestätigungscode für twostep.")
    assert message == f"{code_in(message)} is your shop code"


def test_app_hash_shares_the_last_line_with_the_webotp_line(tmp_path: Path) -> None:
    settings = {
        "TWOSTEP_WEB_ORIGIN": "https://auth.example.com",
        "TWOSTEP_ANDROID_APP_HASH": HASH,
        # UCS-2 texts with both lines need a second segment (SMS Retriever then warns in the log)
        "TWOSTEP_SMS_MAX_SEGMENTS_BY_LANGUAGE": "tr:2,ru:2,ar:2,ja:2",
    }
    with ServerProcess(tmp_path, **settings) as running:
        register(running, "hash@example.com", "+4915112345673")
        login(running, "hash@example.com")
        (body,) = texts_to(running, "+4915112345673", 1)
    code = code_in(body)
    assert body.splitlines()[-1] == f"@auth.example.com #{code} {HASH}"
    assert body.endswith(HASH) and count_segments(body).count == 1


def test_start_up_refuses_an_over_budget_template_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(tmp_path, port) | {
        "TWOSTEP_SMS_TEMPLATE": "{code} is your code. " + "Read this carefully. " * 8
    }
    result = run_cli(env, "serve", "--port", str(port), cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("twostep: TWOSTEP_SMS_TEMPLATE takes 2 SMS segments (GSM-7, 189 characters;")
    assert "over the budget of 1" in lines[-1]
    assert not (tmp_path / "twostep.db").exists()  # refused before any storage was made
