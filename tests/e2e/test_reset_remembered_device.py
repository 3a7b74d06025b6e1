"""A password reset from the owner's remembered browser, in real Chromium, after strangers spent the
email's reset budgets: the web UI sends no deviceToken, so the device cookie must carry the owner's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, start_server, submit_sign_in, view

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
NEW_PASSWORD = "a fresh new passphrase"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Loopback is a trusted proxy, so the strangers below speak from addresses of their own (the
    browser sends no X-Forwarded-For: it is the loopback client)."""
    live = start_server(
        tmp_path_factory.mktemp("reset-device"),
        TWOSTEP_TRUSTED_PROXIES="127.0.0.1/32",
        TWOSTEP_RESEND_COOLDOWN_SECONDS="0",
        TWOSTEP_SMS_PER_NUMBER_10MIN="1000",  # the texts' caps are not what this is about
        TWOSTEP_SMS_PER_NUMBER_DAY="10000",
    )
    yield live
    live.stop()


def from_stranger(server: LiveServer, ip: str, path: str, body: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, headers={"X-Forwarded-For": ip}, timeout=10)


def spend_the_email_s_budgets(server: LiveServer, email: str) -> None:
    """Strangers on two networks: every reset the email may ask for in a day, and every wrong code."""
    reset_ids = []
    for ip in ("203.0.113.7", "203.0.113.7", "203.0.113.8"):
        started = from_stranger(server, ip, "/password/forgot", {"email": email})
        assert started.status_code == 202, started.text
        reset_ids.append(started.json()["resetId"])
    spent = from_stranger(server, "203.0.113.9", "/password/forgot", {"email": email})
    assert (spent.status_code, spent.json()["limit"]) == (429, "reset_requests_day")
    answers = []
    for ip, reset_id in (("203.0.113.7", reset_ids[0]), ("203.0.113.8", reset_ids[2])):
        for _ in range(5):
            body = {"resetId": reset_id, "code": "000000", "newPassword": NEW_PASSWORD}
            answers.append(from_stranger(server, ip, "/password/reset", body).status_code)
    assert answers == [401] * 10
    body = {"resetId": reset_ids[1], "code": "000000", "newPassword": NEW_PASSWORD}
    refused = from_stranger(server, "203.0.113.9", "/password/reset", body)
    assert (refused.status_code, refused.json()["limit"]) == (429, "reset_wrong_codes_day")


def test_the_owner_s_remembered_browser_resets_after_strangers_spent_the_email_s_budget(
    proxied: LiveServer, page: Any, person: Any, register: Any
) -> None:
    server, base = proxied, proxied.base_url.replace("127.0.0.1", "localhost")  # a secure context
    register(server, person)
    page.goto(f"{base}/#/signin")
    submit_sign_in(page, person)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Sign-in code").fill(server.wait_for_code(person.phone))
    page.locator("#code-form").get_by_label("Remember this device", exact=False).check()
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {person.email}!")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    before = len(server.outbox(person.phone))
    spend_the_email_s_budgets(server, person.email)
    # Each reset's code is texted after its answer: wait for the strangers' three texts, or the owner's
    # code below would be read from a stranger's text still on its way.
    texts = before + 3
    server.wait_for_code(person.phone, count=texts)

    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    view(page, "forgot").get_by_role("textbox", name="Email").fill(person.email)
    view(page, "forgot").get_by_role("button", name="Send code").click()
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    view(page, "reset").get_by_label("Reset code").fill(server.wait_for_code(person.phone, count=texts + 1))
    view(page, "reset").get_by_label("New password").fill(NEW_PASSWORD)
    view(page, "reset").get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("status").first).to_contain_text("Your password was changed")
    signed_in = httpx.post(
        f"{server.base_url}/login", json={"email": person.email, "password": NEW_PASSWORD}, timeout=10
    )
    assert signed_in.status_code == 200, signed_in.text
