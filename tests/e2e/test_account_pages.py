"""The account pages in real Chromium: forgot and reset the password, prove the email, change email,
phone and password."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import view
from tests.live import code_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def email_code(server: Any, to: str, count: int = 1, timeout: float = 15.0) -> str:
    """The code in the `count`-th email to `to` (console email outbox), waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        result = server.cli("email", "outbox", "--json", "--to", to, "--last", "50")
        assert result.returncode == 0, result.stderr
        entries = json.loads(result.stdout)
        if len(entries) >= count:
            return code_in(str(entries[count - 1]["body"]))
        assert time.monotonic() < deadline, f"no email #{count} to {to}"
        time.sleep(0.3)


def prove_phone(server: Any, who: Any) -> None:
    """A first sign-in through the API: its code proves the phone (recovery codes go only there)."""
    started = httpx.post(
        f"{server.base_url}/login", json={"email": who.email, "password": who.password}, timeout=10
    )
    assert started.status_code == 200, started.text
    code = server.wait_for_code(who.phone)
    verified = httpx.post(
        f"{server.base_url}/otp/{started.json()['otpId']}/verify", json={"otp": code}, timeout=10
    )
    assert verified.status_code == 200, verified.text


def sign_in_fully(tab: Any, server: Any, who: Any, sign_in: Any, count: int) -> None:
    sign_in(tab, server, who)
    tab.get_by_label("Sign-in code").fill(server.wait_for_code(who.phone, count=count))
    tab.get_by_role("button", name="Verify and sign in").click()
    expect(tab.get_by_role("heading", name=f"Hello, {who.email}!")).to_be_visible()


def test_forgot_and_reset_password(
    server: Any, page: Any, account: Any, sign_in: Any, screenshot: Any
) -> None:
    prove_phone(server, account)
    time.sleep(3)  # the server's per-number resend cooldown (3 s), or the reset text would be refused
    page.goto(f"{server.base_url}/#/signin")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    view(page, "forgot").get_by_role("textbox", name="Email").fill(account.email)
    view(page, "forgot").get_by_role("button", name="Send code").click()
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    screenshot(page, "reset-password")
    view(page, "reset").get_by_label("Reset code").fill(
        "000000" if server.wait_for_code(account.phone, count=2) != "000000" else "111111"
    )
    view(page, "reset").get_by_label("New password").fill("a fresh new passphrase")
    view(page, "reset").get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("alert").filter(has_text="wrong")).to_be_visible()  # a wrong code says so
    view(page, "reset").get_by_label("Reset code").fill(server.wait_for_code(account.phone, count=2))
    view(page, "reset").get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("Your password was changed")
    account.password = "a fresh new passphrase"
    # the number is the account's only proven channel, so the owner is told there, after the answer:
    # wait for that notice, or the sign-in code below would be counted in its place
    notice = server.wait_for_text(account.phone, count=3)
    assert "password was reset" in notice and not re.search(r"\d{4,}", notice)  # a notice, no code
    time.sleep(3)  # the per-number resend cooldown again, counted from the reset text
    sign_in_fully(page, server, account, sign_in, count=4)


def test_reset_page_without_a_request_goes_to_forgot(server: Any, page: Any) -> None:
    page.goto(f"{server.base_url}/#/reset")
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()


def test_account_page_proves_email_and_changes_phone_email_and_password(
    server: Any, page: Any, account: Any, sign_in: Any, screenshot: Any
) -> None:
    sign_in_fully(page, server, account, sign_in, count=1)
    page.get_by_role("link", name="Your account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("[data-email-state]")).to_have_text("not verified")

    page.get_by_role("button", name="Email me a code to verify it").click()
    page.get_by_label("Email code").fill(email_code(server, account.email))
    page.get_by_label("Email code").press("Enter")
    expect(page.locator("[data-account-status]")).to_have_text("Your email is confirmed.")
    # The code form is hidden once confirmed; it had focus, which fell to <body> with it (a keyboard
    # user was sent back to the top of the page): focus goes to the card's heading.
    expect(page.get_by_role("heading", name="Email", exact=True)).to_be_focused()
    expect(page.locator("[data-email-state]")).to_have_text("verified")

    new_phone = account.phone[:-4] + str((int(account.phone[-4:]) + 5000) % 10000).zfill(4)
    page.get_by_label("New mobile phone").fill(new_phone)
    page.locator("#phone-password").fill("not my password at all")
    page.get_by_role("button", name="Change phone").click()
    expect(page.locator("#phone-form [data-form-error]")).to_contain_text("current password is wrong")
    page.locator("#phone-password").fill(account.password)
    page.get_by_role("button", name="Change phone").click()
    page.get_by_label("Text message code").fill(server.wait_for_code(new_phone))
    page.get_by_role("button", name="Confirm phone").click()
    expect(page.locator("[data-account-status]")).to_have_text("Your phone number is changed.")
    expect(page.locator("[data-account-phone]")).to_have_text(
        new_phone[:2] + "*" * (len(new_phone) - 4) + new_phone[-2:]
    )
    assert (
        "your account's phone number is now" in server.outbox(account.phone)[-1]["body"]
    )  # notice to the old one

    new_email = "new." + account.email
    page.get_by_label("New email").fill(new_email)
    page.locator("#email-password").fill(account.password)
    page.get_by_role("button", name="Change email").click()
    page.get_by_label("Email code").fill(email_code(server, new_email))
    page.get_by_role("button", name="Confirm email").click()
    expect(page.locator("[data-account-email]")).to_have_text(new_email)
    screenshot(page, "account")

    page.locator("#password-current").fill(account.password)
    page.locator("#password-new").fill("another fresh passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("[data-account-status]")).to_contain_text("Your password was changed")
    page.reload()  # this session stayed: the page signs in again silently
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("[data-account-email]")).to_have_text(new_email)


def test_new_password_forms_name_the_account_for_password_managers(
    server: Any, page: Any, account: Any, sign_in: Any
) -> None:
    """The password change and reset forms held a new password but no username: a password manager saving
    the new one could not tell whose it was (Chromium: "Password forms should have (optionally hidden)
    username fields"). Each now holds the account's email, hidden, as `autocomplete="username"`."""
    prove_phone(server, account)
    time.sleep(3)  # the server's per-number resend cooldown (3 s)
    sign_in_fully(page, server, account, sign_in, count=2)
    page.goto(f"{server.base_url}/#/account")
    username = page.locator('#password-form input[autocomplete="username"]')
    expect(username).to_have_value(account.email)
    expect(username).to_be_hidden()
    page.locator("#password-current").fill(account.password)
    page.locator("#password-new").fill("another fresh passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("[data-account-status]")).to_contain_text("Your password was changed")
    expect(username).to_have_value(account.email)  # still there for the next change

    page.goto(f"{server.base_url}/#/")
    page.get_by_role("button", name="Sign out").click()
    time.sleep(3)
    page.goto(f"{server.base_url}/#/forgot")
    view(page, "forgot").get_by_role("textbox", name="Email").fill(account.email)
    page.get_by_role("button", name="Send code").click()
    expect(view(page, "reset").locator('input[autocomplete="username"]')).to_have_value(account.email)
