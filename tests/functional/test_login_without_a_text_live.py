"""Against a live `twostep serve` whose SMS provider (a Twilio stand-in on loopback) fails: an account with
recovery codes still signs in with one, the cause is in the server's log, and the text goes out again once
the provider is back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.live import ServerProcess
from tests.sms.provider_server import ProviderServer, Reply

EMAIL = "ayse@example.com"
PASSWORD = "correct horse battery staple"
PHONE = "+14155552673"
TWILIO_OK = Reply.json(201, {"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"})
TWILIO_DOWN = Reply.json(
    500, {"code": 20500, "message": "An internal server error has occurred", "status": 500}
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ProviderServer]]:
    provider = ProviderServer(default=TWILIO_OK).start()
    try:
        with ServerProcess(
            tmp_path_factory.mktemp("login-without-a-text"),
            TWOSTEP_SMS_PROVIDERS="twilio",
            TWOSTEP_TWILIO_ACCOUNT_SID="AC0123456789abcdef0123456789abcdef",
            TWOSTEP_TWILIO_AUTH_TOKEN="twilio-secret-token-1",
            TWOSTEP_TWILIO_FROM="+15005550006",
            TWOSTEP_TWILIO_BASE_URL=provider.url,
            TWOSTEP_SMS_TIMEOUT_SECONDS="2",
            TWOSTEP_RESEND_COOLDOWN_SECONDS="0",
        ) as running:
            yield running, provider
    finally:
        provider.stop()


def post(
    server: ServerProcess, path: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, headers=headers, timeout=30)


def texted_code(provider: ProviderServer) -> str:
    body = parse_qs(provider.requests[-1].body.decode())["Body"][0]
    match = re.search(r"\b(\d{4,10})\b", body)
    assert match is not None
    return match.group(1)


def test_a_failing_provider_leaves_the_recovery_codes_to_sign_in_with(
    served: tuple[ServerProcess, ProviderServer],
) -> None:
    server, provider = served
    account = {"email": EMAIL, "password": PASSWORD, "firstName": "A", "lastName": "B", "phoneNumber": PHONE}
    assert post(server, "/register", account).status_code == 201
    started = post(server, "/login", {"email": EMAIL, "password": PASSWORD}).json()
    tokens = post(server, f"/otp/{started['otpId']}/verify", {"otp": texted_code(provider)}).json()
    bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
    codes = post(server, "/me/factors/recovery-codes", {"currentPassword": PASSWORD}, **bearer).json()
    provider.always(TWILIO_DOWN)
    tried = len(provider.requests)

    login = post(server, "/login", {"email": EMAIL, "password": PASSWORD})

    assert login.status_code == 200, login.text
    answer = login.json()
    assert (answer["expectedFactor"], answer["smsUnavailable"]) == ("recovery", "failed")
    assert len(provider.requests) > tried  # the text was tried, and failed
    log = server.log_path.read_text(errors="replace")
    not_sent = [json.loads(line) for line in log.splitlines() if '"sms not sent"' in line]
    assert not_sent and not_sent[-1]["reason"] == "provider_error"
    assert PHONE[2:] not in log and PASSWORD not in log
    finished = post(
        server, f"/otp/{answer['otpId']}/verify", {"otp": codes["recoveryCodes"][0], "factor": "recovery"}
    )
    assert finished.status_code == 200, finished.text

    provider.always(TWILIO_OK)  # back: a sign-in texts its code again
    again = post(server, "/login", {"email": EMAIL, "password": PASSWORD}).json()
    assert (again["expectedFactor"], again["smsUnavailable"]) == ("sms", None)
