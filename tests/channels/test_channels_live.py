"""Done means, against a live `twostep serve` and a local Twilio stand-in: a code chosen per request by
voice call (TwiML reading it digit by digit, twice, in a language) or WhatsApp (prefixed numbers), on
`POST /otp/{otpId}/send` and `POST /verifications`; the audit trail names the channel; an unconfigured
channel answers 400 `channel_not_configured`; a bad channel configuration stops start-up with one line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.live import ServerProcess, code_in, free_port, run_cli, server_env
from tests.sms.provider_server import ProviderServer, Reply

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-secret-token-1"
VOICE_FROM, WHATSAPP_FROM = "+15005550007", "+14155238886"
API_KEY = "shop:channels-test-key-0123456789"
PASSWORD = "correct horse battery staple"
LIMITS = {
    "TWOSTEP_SMS_PER_NUMBER_10MIN": "1000",
    "TWOSTEP_SMS_PER_NUMBER_DAY": "10000",
    "TWOSTEP_IP_LOGIN_PER_MINUTE": "100000",
    "TWOSTEP_IP_REGISTER_PER_HOUR": "100000",
}
TWILIO = {
    "TWOSTEP_TWILIO_ACCOUNT_SID": SID,
    "TWOSTEP_TWILIO_AUTH_TOKEN": TOKEN,
    "TWOSTEP_TWILIO_VOICE_FROM": VOICE_FROM,
    "TWOSTEP_TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
}
_numbers = iter(range(10_000))


@pytest.fixture(scope="module")
def twilio() -> Iterator[ProviderServer]:
    server = ProviderServer(default=Reply.json(201, {"sid": "CA0123", "status": "queued"})).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, twilio: ProviderServer) -> Iterator[ServerProcess]:
    """SMS by the console; voice and WhatsApp by Twilio (the stand-in)."""
    with ServerProcess(
        tmp_path_factory.mktemp("channels-live"),
        TWOSTEP_CHANNEL_PROVIDERS="voice:twilio,whatsapp:twilio",
        TWOSTEP_TWILIO_BASE_URL=twilio.url,
        TWOSTEP_VERIFY_API_KEYS=API_KEY,
        **TWILIO,
        **LIMITS,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Dev with WhatsApp by the console only: voice is not configured."""
    with ServerProcess(
        tmp_path_factory.mktemp("channels-console"), TWOSTEP_CHANNEL_PROVIDERS="whatsapp:console", **LIMITS
    ) as running:
        yield running


def phone() -> str:
    return f"+1415555{next(_numbers):04d}"


def post(server: ServerProcess, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, headers=headers, timeout=30)


def start_sign_in(server: ServerProcess, number: str) -> str:
    email = f"channels{number[-4:]}@example.com"
    body = {"email": email, "password": PASSWORD, "firstName": "A", "lastName": "B", "phoneNumber": number}
    assert post(server, "/register", body).status_code == 201
    started = post(server, "/login", {"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    return str(started.json()["otpId"])


def last_form(twilio: ProviderServer) -> tuple[str, dict[str, list[str]]]:
    request = twilio.requests[-1]
    assert request.basic_auth() == (SID, TOKEN)
    return request.path, parse_qs(request.body.decode(), strict_parsing=True)


def spoken_code(twiml: str) -> str:
    """The code a call speaks: the digits of the first `<Say>`, which must be repeated word for word."""
    says = re.findall(r'<Say language="en-US">([^<]*)</Say>', twiml)
    assert len(says) == 2 and says[0] == says[1], twiml
    assert re.search(r"\d, \d, \d, \d, \d, \d", says[0]), "the code is read digit by digit"
    return "".join(re.findall(r"\d", says[0]))


def audited(server: ServerProcess, event: str) -> list[dict[str, Any]]:
    result = server.cli("audit", "tail", "--json", "--last", "200")
    assert result.returncode == 0, result.stderr
    return [row for row in json.loads(result.stdout) if row["event"] == event]


def test_sign_in_code_by_voice_call(server: ServerProcess, twilio: ProviderServer) -> None:
    number = phone()
    otp_id = start_sign_in(server, number)

    sent = post(server, f"/otp/{otp_id}/send", {"channel": "voice"})

    assert sent.status_code == 202, sent.text
    path, form = last_form(twilio)
    assert path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    assert (form["To"], form["From"], form["TimeLimit"]) == ([number], [VOICE_FROM], ["60"])
    (document,) = form["Twiml"]
    assert document.startswith("<Response><Say") and document.endswith("</Say></Response>")
    code = spoken_code(document)
    verified = post(server, f"/otp/{otp_id}/verify", {"otp": code})
    assert verified.status_code == 200
    assert verified.json()["amr"] == ["pwd", "tel"]  # RFC 8176: confirmation by telephone call
    channels = [row["detail"].get("channel") for row in audited(server, "code_sent")]
    assert channels[-2:] == ["sms", "voice"]  # the login's text, then the call
    assert audited(server, "code_sent")[-1]["detail"]["provider"] == "twilio"


def test_sign_in_code_by_whatsapp(server: ServerProcess, twilio: ProviderServer) -> None:
    number = phone()
    otp_id = start_sign_in(server, number)

    assert post(server, f"/otp/{otp_id}/send", {"channel": "whatsapp"}).status_code == 202

    path, form = last_form(twilio)
    assert path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert (form["To"], form["From"]) == ([f"whatsapp:{number}"], [f"whatsapp:{WHATSAPP_FROM}"])
    assert post(server, f"/otp/{otp_id}/verify", {"otp": code_in(form["Body"][0])}).status_code == 200


def test_sms_stays_the_default_of_send(server: ServerProcess, twilio: ProviderServer) -> None:
    number = phone()
    otp_id = start_sign_in(server, number)
    calls = len(twilio.requests)

    assert post(server, f"/otp/{otp_id}/send", {}).status_code == 202

    assert len(twilio.requests) == calls  # SMS goes by the console here
    assert [entry["channel"] for entry in server.outbox(number)] == ["sms", "sms"]


@pytest.mark.parametrize("channel", ["voice", "whatsapp"])
def test_verification_code_by_channel(server: ServerProcess, twilio: ProviderServer, channel: str) -> None:
    number, key = phone(), {"X-Api-Key": API_KEY.split(":", 1)[1]}
    auth_id = f"order-{channel}"

    created = post(
        server, "/verifications", {"auth_id": auth_id, "recipient": number, "channel": channel}, **key
    )

    assert created.status_code == 200, created.text
    path, form = last_form(twilio)
    if channel == "voice":
        assert path.endswith("/Calls.json")
        code = spoken_code(form["Twiml"][0])
    else:
        assert form["To"] == [f"whatsapp:{number}"]
        code = code_in(form["Body"][0])
    checked = httpx.get(
        f"{server.base_url}/verifications", params={"auth_id": auth_id, "code": code}, headers=key, timeout=30
    )
    assert checked.status_code == 200, checked.text
    assert audited(server, "code_sent")[-1]["detail"]["channel"] == channel


@pytest.mark.parametrize(
    ("number", "language", "words"),
    [
        ("+4915112345670", "de-DE", "Ihr Code für twostep lautet"),
        ("+905055555550", "tr-TR", "twostep kodunuz"),
    ],
)
def test_a_call_speaks_the_number_country_language(
    server: ServerProcess, twilio: ProviderServer, number: str, language: str, words: str
) -> None:
    key = {"X-Api-Key": API_KEY.split(":", 1)[1]}
    body = {"auth_id": f"call-{language}", "recipient": number, "channel": "voice"}

    assert post(server, "/verifications", body, **key).status_code == 200

    _, form = last_form(twilio)
    says = re.findall(rf'<Say language="{language}">([^<]*)</Say>', form["Twiml"][0])
    assert len(says) == 2 and says[0].startswith(words), form["Twiml"][0]


def test_an_unconfigured_channel_is_a_400_problem(console_server: ServerProcess) -> None:
    number = phone()
    otp_id = start_sign_in(console_server, number)

    refused = post(console_server, f"/otp/{otp_id}/send", {"channel": "voice"})
    unknown = post(console_server, f"/otp/{otp_id}/send", {"channel": "pigeon"})

    for answer in (refused, unknown):
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "channel_not_configured"
    assert "configured: sms, whatsapp" in refused.json()["detail"]
    assert [entry["channel"] for entry in console_server.outbox(number)] == ["sms"]  # nothing more sent


def test_an_unconfigured_channel_on_verifications_is_a_400(console_server: ServerProcess) -> None:
    number = phone()
    body = {"auth_id": "a1", "recipient": number, "channel": "voice"}

    refused = post(console_server, "/verifications", body)

    assert refused.status_code == 400
    assert refused.json()["code"] == "channel_not_configured"
    assert refused.json()["reason"] == "InvalidAPIUsage"
    assert console_server.outbox(number) == []


def test_the_console_keeps_a_whatsapp_code_with_its_channel(console_server: ServerProcess) -> None:
    number = phone()

    created = post(
        console_server, "/verifications", {"auth_id": "a2", "recipient": number, "channel": "whatsapp"}
    )

    assert created.status_code == 200, created.text
    (entry,) = console_server.outbox(number)
    assert (entry["channel"], entry["provider"]) == ("whatsapp", "console")


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            {"TWOSTEP_CHANNEL_PROVIDERS": "voice:sns"},
            "twostep: TWOSTEP_CHANNEL_PROVIDERS: 'sns' cannot carry voice; use console, twilio",
        ),
        (
            {"TWOSTEP_CHANNEL_PROVIDERS": "voice:twilio", **TWILIO, "TWOSTEP_TWILIO_VOICE_FROM": ""},
            "twostep: TWOSTEP_TWILIO_VOICE_FROM is required for the twilio voice channel",
        ),
    ],
)
def test_start_up_refuses_a_bad_channel_configuration(
    tmp_path: Path, settings: dict[str, str], line: str
) -> None:
    result = run_cli(
        server_env(tmp_path) | settings, "serve", "--port", str(free_port()), cwd=tmp_path, timeout=60
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == line
