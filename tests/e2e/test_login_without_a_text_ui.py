"""The code step in real Chromium when the sign-in's text cannot go out (the SMS provider, a Twilio
stand-in on loopback, failing): an account with SMS and recovery codes is told so and gets the recovery-code
field, and signs in with one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, Person, new_person, start_server, submit_sign_in, view
from tests.sms.provider_server import ProviderServer, Reply

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TWILIO_OK = Reply.json(201, {"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"})
TWILIO_DOWN = Reply.json(
    500, {"code": 20500, "message": "An internal server error has occurred", "status": 500}
)


@pytest.fixture(scope="module")
def twilio() -> Iterator[ProviderServer]:
    provider = ProviderServer(default=TWILIO_OK).start()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, twilio: ProviderServer) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path_factory.mktemp("without-a-text"),
        TWOSTEP_RESEND_COOLDOWN_SECONDS="0",
        TWOSTEP_SMS_PROVIDERS="twilio",
        TWOSTEP_TWILIO_ACCOUNT_SID="AC0123456789abcdef0123456789abcdef",
        TWOSTEP_TWILIO_AUTH_TOKEN="twilio-secret-token-1",
        TWOSTEP_TWILIO_FROM="+15005550006",
        TWOSTEP_TWILIO_BASE_URL=twilio.url,
        TWOSTEP_SMS_TIMEOUT_SECONDS="2",
    )
    yield live
    live.stop()


def texted_code(provider: ProviderServer) -> str:
    body = parse_qs(provider.requests[-1].body.decode())["Body"][0]
    match = re.search(r"\b(\d{4,10})\b", body)
    assert match is not None
    return match.group(1)


def with_recovery_codes(
    server: LiveServer, register: Any, twilio: ProviderServer
) -> tuple[Person, list[str]]:
    """A registered person with SMS who made recovery codes (through the API)."""
    person = new_person()
    register(server, person)
    login = {"email": person.email, "password": person.password}
    started = httpx.post(f"{server.base_url}/login", json=login, timeout=30).json()
    verify = {"otp": texted_code(twilio)}
    tokens = httpx.post(f"{server.base_url}/otp/{started['otpId']}/verify", json=verify, timeout=30).json()
    made = httpx.post(
        f"{server.base_url}/me/factors/recovery-codes",
        json={"currentPassword": person.password},
        headers={"Authorization": f"Bearer {tokens['accessToken']}"},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    return person, list(made.json()["recoveryCodes"])


def test_no_text_shows_the_recovery_code_step(
    server: LiveServer, twilio: ProviderServer, register: Any, page: Any
) -> None:
    person, codes = with_recovery_codes(server, register, twilio)
    twilio.always(TWILIO_DOWN)
    try:
        page.goto(f"{server.base_url}/#/signin")
        submit_sign_in(page, person)

        step = view(page, "code")
        expect(step.get_by_role("heading", name="Enter your code")).to_be_visible()
        expect(step.locator("[data-other-lead]")).to_have_text(
            "We could not send you a text message just now. "
            "Enter one of your recovery codes (like abcde-23456). Each one works once."
        )
        expect(step.locator("#code-lead")).to_be_hidden()
        expect(step.get_by_role("button", name="Text me a code instead")).to_be_visible()
        step.locator("[name=otp]").fill(codes[0])
        step.get_by_role("button", name="Verify and sign in").click()
        expect(page.get_by_role("heading", name=f"Hello, {person.email}!")).to_be_visible()
    finally:
        twilio.always(TWILIO_OK)
