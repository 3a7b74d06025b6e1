"""Mistakes a person makes on the account and reset pages, in real Chromium: each is answered at the
field it concerns, and none of them ends the session."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import view
from tests.e2e.test_account_pages import email_code, prove_phone, sign_in_fully

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def mistyped(code: str) -> str:
    return "".join(str((int(digit) + 1) % 10) for digit in code)


def test_a_mistyped_change_code_is_told_at_the_code_field(
    server: Any, page: Any, account: Any, sign_in: Any
) -> None:
    """The API answers a wrong code for a new email or phone with 401 `wrong_code`; the account page took
    every 401 but a wrong password for an ended session and sent the person to sign in again ("Your
    session has ended"), losing the change they were making while their session was alive."""
    sign_in_fully(page, server, account, sign_in, count=1)
    page.goto(f"{server.base_url}/#/account")
    page.get_by_role("button", name="Email me a code to verify it").click()
    code_field = page.get_by_label("Email code")
    code = email_code(server, account.email)
    code_field.fill(mistyped(code))
    code_field.press("Enter")
    expect(page.locator("#email-code-error")).to_have_text("That code is wrong. You have 4 attempts left.")
    expect(code_field).to_have_attribute("aria-invalid", "true")
    expect(code_field).to_be_focused()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    code_field.fill(code)  # the session went on: the right code still works
    page.get_by_role("button", name="Confirm email").click()
    expect(page.locator("[data-account-status]")).to_have_text("Your email is confirmed.")


def test_a_too_short_new_password_is_told_at_its_field(
    server: Any, page: Any, account: Any, sign_in: Any
) -> None:
    """A new password the rules refuse came back naming the field `password`, which the change and reset
    forms do not have (theirs is `newPassword`): the reason stood at the top of the form and the field
    it concerns was not marked."""
    prove_phone(server, account)
    time.sleep(3)  # the server's per-number resend cooldown (3 s)
    sign_in_fully(page, server, account, sign_in, count=2)
    page.goto(f"{server.base_url}/#/account")
    page.locator("#password-current").fill(account.password)
    page.locator("#password-new").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-new-error")).to_have_text("The password must have at least 8 characters.")
    expect(page.locator("#password-new")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password-new")).to_be_focused()
    expect(page.locator("#password-form [data-form-error]")).to_be_empty()

    page.goto(f"{server.base_url}/#/")
    page.get_by_role("button", name="Sign out").click()
    time.sleep(3)
    page.get_by_role("link", name="Forgot your password?").click()
    view(page, "forgot").get_by_role("textbox", name="Email").fill(account.email)
    page.get_by_role("button", name="Send code").click()
    reset = view(page, "reset")
    reset.get_by_label("Reset code").fill(server.wait_for_code(account.phone, count=3))
    reset.get_by_label("New password").fill("short")
    reset.get_by_role("button", name="Set new password").click()
    expect(page.locator("#reset-password-error")).to_have_text(
        "The password must have at least 8 characters."
    )
    expect(page.locator("#reset-password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#reset-form [data-form-error]")).to_be_empty()
