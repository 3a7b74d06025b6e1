"""The sessions page in real Chromium: see where you're signed in, sign out others, delete the account."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import view

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def signed_in_in_browser(tab: Any, server: Any, who: Any, sign_in: Any) -> None:
    count = len(server.outbox(who.phone)) + 1
    sign_in(tab, server, who)
    tab.get_by_label("Sign-in code").fill(server.wait_for_code(who.phone, count=count))
    tab.get_by_role("button", name="Verify and sign in").click()
    expect(tab.get_by_role("heading", name=f"Hello, {who.email}!")).to_be_visible()


def signed_in_over_api(server: Any, who: Any, agent: str) -> dict[str, Any]:
    """Another device: the same person signs in with another client (waiting out the resend cooldown)."""
    count = len(server.outbox(who.phone)) + 1
    headers = {"User-Agent": agent}
    while True:
        answer = httpx.post(
            f"{server.base_url}/login",
            json={"email": who.email, "password": who.password},
            headers=headers,
            timeout=30,
        )
        if answer.status_code != 429:
            break
        time.sleep(float(answer.headers["Retry-After"]))
    assert answer.status_code == 200, answer.text
    code = server.wait_for_code(who.phone, count=count)
    verified = httpx.post(
        f"{server.base_url}/otp/{answer.json()['otpId']}/verify",
        json={"otp": code},
        headers=headers,
        timeout=30,
    )
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


def test_sign_out_other_sessions_from_the_page(server: Any, page: Any, account: Any, sign_in: Any) -> None:
    signed_in_in_browser(page, server, account, sign_in)
    other = signed_in_over_api(server, account, "curl/8.5.0")
    third = signed_in_over_api(server, account, "python-httpx/0.27")
    page.get_by_role("link", name="Your sessions and account").click()
    expect(page.get_by_role("heading", name="Your sessions")).to_be_visible()
    sessions = view(page, "sessions")
    items = sessions.locator("[data-session]")
    expect(items).to_have_count(3)
    expect(sessions.get_by_text("this browser")).to_be_visible()
    expect(sessions.get_by_text("From 127.0.0.0/24").first).to_be_visible()

    # By keyboard: the ended session's button leaves the list, and focus must not fall to <body> with it
    # (it did: a keyboard user was sent back to the top of the page); it goes to the page's heading.
    sessions.locator("li", has_text="curl").get_by_role("button", name="Sign out this session").focus()
    page.keyboard.press("Enter")
    expect(sessions.get_by_role("status")).to_have_text("Session signed out.")
    expect(items).to_have_count(2)
    expect(page.get_by_role("heading", name="Your sessions")).to_be_focused()
    hello = httpx.get(f"{server.base_url}/hello", headers={"Authorization": f"Bearer {other['accessToken']}"})
    assert (hello.status_code, hello.json()["code"]) == (401, "session_revoked")

    sessions.get_by_role("button", name="Sign out everywhere else").click()
    expect(sessions.get_by_role("status")).to_have_text("1 other session signed out.")
    expect(items).to_have_count(1)
    expect(sessions.get_by_role("button", name="Sign out everywhere else")).to_be_disabled()
    gone = httpx.get(f"{server.base_url}/hello", headers={"Authorization": f"Bearer {third['accessToken']}"})
    assert gone.status_code == 401


def test_delete_the_account_from_the_page(server: Any, page: Any, account: Any, sign_in: Any) -> None:
    signed_in_in_browser(page, server, account, sign_in)
    page.goto(f"{server.base_url}/#/sessions")
    expect(page.get_by_role("heading", name="Your sessions")).to_be_visible()
    form = page.locator("#delete-account-form")
    form.get_by_role("button", name="Delete my account").click()
    expect(form.get_by_text("This field is required.")).to_be_visible()
    form.get_by_label("Your password, to confirm").fill("not my password")
    form.get_by_role("button", name="Delete my account").click()
    expect(form.get_by_role("alert")).to_have_text("The current password is wrong.")
    form.get_by_label("Your password, to confirm").fill(account.password)
    form.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(view(page, "signin").get_by_text("Your account has been deleted.")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "__Host-twostep-refresh"]
    login = httpx.post(
        f"{server.base_url}/login", json={"email": account.email, "password": account.password}, timeout=30
    )
    assert login.status_code == 401
