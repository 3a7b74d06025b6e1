"""Taking back an email address in real Chromium. Before, a person whose address another account had
signed up with (and never proved) met "An account with this email … already exists" on sign-up or on a
change of address, and the web UI had no way to the claim (`POST /email-claims`): the refusal now links to
a page that emails a code to the address, a page that takes the code, and then goes back to sign-up (or the
account page) with the address filled in. The pages read the same whether or not an account holds the
address, as the API does."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import new_person, submit_sign_in, view
from tests.e2e.test_account_pages import email_code, sign_in_fully

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
LEAD = (
    "If an account holds {email} without having proved it, we emailed a code there. It works once and"
    " expires soon. No code? Then the address is free to sign up with, or its account proved it."
)


def squat(server: Any, email: str) -> Any:
    """Someone else's account with `email`, never proved."""
    squatter = new_person()
    squatter.email = email
    response = httpx.post(
        f"{server.base_url}/register",
        json={
            "firstName": "Mallory",
            "lastName": "Squat",
            "email": email,
            "password": squatter.password,
            "phoneNumber": squatter.phone,
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return squatter


def prove_email(server: Any, who: Any) -> None:
    """`who` signs in through the API and proves the address with the code emailed to it."""
    base = server.base_url
    started = httpx.post(f"{base}/login", json={"email": who.email, "password": who.password}, timeout=10)
    assert started.status_code == 200, started.text
    otp = {"otp": server.wait_for_code(who.phone)}
    signed_in = httpx.post(f"{base}/otp/{started.json()['otpId']}/verify", json=otp, timeout=10)
    assert signed_in.status_code == 200, signed_in.text
    bearer = {"Authorization": f"Bearer {signed_in.json()['accessToken']}"}
    change = httpx.post(f"{base}/me/email/verify/start", headers=bearer, timeout=10)
    assert change.status_code == 202, change.text
    body = {"changeId": change.json()["changeId"], "code": email_code(server, who.email)}
    proved = httpx.post(f"{base}/me/email/verify", json=body, headers=bearer, timeout=10)
    assert proved.status_code == 200 and proved.json()["emailVerified"], proved.text


def fill_sign_up(page: Any, who: Any) -> None:
    form = view(page, "signup")
    form.get_by_label("First name").fill(who.first)
    form.get_by_label("Last name").fill(who.last)
    form.get_by_label("Email").fill(who.email)
    form.get_by_label("Password").fill(who.password)
    form.get_by_label("Mobile phone").fill(who.phone)


def test_sign_up_with_a_taken_address_takes_it_back(server: Any, page: Any, screenshot: Any) -> None:
    owner = new_person()
    squatter = squat(server, owner.email)
    page.goto(f"{server.base_url}/#/signup")
    fill_sign_up(page, owner)
    view(page, "signup").get_by_role("button", name="Create account").click()
    alert = view(page, "signup").get_by_role("alert")
    expect(alert).to_contain_text("already exists")
    alert.get_by_role("link", name="Is this your email address? Take it back.").click()

    expect(page.get_by_role("heading", name="Take back your email address")).to_be_visible()
    expect(view(page, "claim").get_by_label("Email")).to_have_value(owner.email)
    expect(view(page, "claim").get_by_role("button", name="Email me a code")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Enter the code from your email")).to_be_visible()
    code_field = view(page, "claim-code").get_by_label("Code from the email")
    expect(code_field).to_be_focused()
    expect(code_field).to_have_accessible_description(re.compile(re.escape(LEAD.format(email=owner.email))))
    screenshot(page, "email-claim-code")
    code = email_code(server, owner.email)

    # a wrong code: said in the form's alert (read out at once), nothing released, the field keeps focus
    code_field.fill("000000" if code != "000000" else "111111")
    page.keyboard.press("Enter")
    expect(view(page, "claim-code").get_by_role("alert")).to_contain_text(re.compile("code", re.IGNORECASE))
    expect(code_field).to_be_focused()
    expect(page.get_by_role("heading", name="Enter the code from your email")).to_be_visible()

    code_field.fill(code)
    view(page, "claim-code").get_by_role("button", name="Take back the address").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    expect(view(page, "signup").get_by_role("status")).to_have_text(
        "The address is free. Create your account with it."
    )
    expect(view(page, "signup").get_by_label("Email")).to_have_value(owner.email)
    fill_sign_up(page, owner)
    view(page, "signup").get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    refused = httpx.post(
        f"{server.base_url}/login", json={"email": owner.email, "password": squatter.password}, timeout=10
    )
    assert refused.status_code == 401, "the squatter's account no longer has the address"


def test_the_claim_pages_read_the_same_for_every_address(server: Any, page: Any, account: Any) -> None:
    """A free address, one held unproven and one proven (by its account's own code) get the same pages."""
    prove_email(server, account)
    held = squat(server, f"held.{uuid.uuid4().hex[:8]}@example.com").email
    free = f"free.{uuid.uuid4().hex[:8]}@example.com"
    seen = []
    for email in (free, held, account.email):
        page.goto(f"{server.base_url}/#/signin")
        view(page, "signin").get_by_role("link", name="Take it back").click()
        expect(page.get_by_role("heading", name="Take back your email address")).to_be_visible()
        view(page, "claim").get_by_label("Email").fill(email)
        view(page, "claim").get_by_role("button", name="Email me a code").click()
        expect(page.get_by_role("heading", name="Enter the code from your email")).to_be_visible()
        seen.append(view(page, "claim-code").inner_text().replace(email, "{email}"))
        view(page, "claim-code").get_by_label("Code from the email").fill("000000")
        view(page, "claim-code").get_by_role("button", name="Take back the address").click()
        expect(view(page, "claim-code").get_by_role("alert").first).not_to_be_empty()
        seen.append(view(page, "claim-code").inner_text().replace(email, "{email}"))
    assert seen[0] == seen[2] == seen[4] and seen[1] == seen[3] == seen[5], seen


def test_a_change_to_a_taken_address_takes_it_back_and_returns(
    server: Any, page: Any, account: Any, sign_in: Any
) -> None:
    wanted = f"wanted.{uuid.uuid4().hex[:8]}@example.com"
    squat(server, wanted)
    sign_in_fully(page, server, account, sign_in, count=1)
    page.get_by_role("link", name="Your account").click()
    form = page.locator("#email-form")
    form.get_by_label("New email").fill(wanted)
    form.get_by_label("Current password").fill(account.password)
    form.get_by_role("button", name="Change email").click()
    expect(form.get_by_role("alert")).to_contain_text("Another account has this email address.")
    form.get_by_role("link", name="Is this your email address? Take it back.").click()

    expect(page.get_by_role("heading", name="Take back your email address")).to_be_visible()
    expect(view(page, "claim").get_by_label("Email")).to_have_value(wanted)
    view(page, "claim").get_by_role("button", name="Email me a code").click()
    view(page, "claim-code").get_by_label("Code from the email").fill(email_code(server, wanted))
    view(page, "claim-code").get_by_role("button", name="Take back the address").click()

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("[data-account-status]")).to_have_text(
        "The address is free. Change your email to it below."
    )
    expect(form.get_by_label("New email")).to_have_value(wanted)
    expect(form.get_by_label("Current password")).to_be_focused()
    # at once: the claim's right code ended the address's resend cooldown (its code went there just now)
    page.keyboard.type(account.password)
    page.keyboard.press("Enter")
    expect(page.locator("#email-code-form")).to_be_visible()
    page.locator("#email-code-form").get_by_label("Email code").fill(email_code(server, wanted, count=2))
    page.get_by_role("button", name="Confirm email").click()
    expect(page.locator("[data-account-email]")).to_have_text(wanted)


def test_a_signed_out_claim_from_the_account_link_says_the_address_is_free(
    server: Any, page: Any, account: Any
) -> None:
    """Before, a person not signed in who took an address back through `#/claim?back=account` (the link of
    the account page's refusal, or that page's claim after the session ended) ended on "Sign in" told only
    that their session had ended, nothing that the address was now free; and the address stayed in page
    memory until a later visit to the account page filled it in. Now "Sign in" says the address is theirs
    to use (sign in and change to it, or create an account), and the address is not kept."""
    wanted = f"wanted.{uuid.uuid4().hex[:8]}@example.com"
    squat(server, wanted)
    page.goto(f"{server.base_url}/#/claim?back=account")
    view(page, "claim").get_by_label("Email").fill(wanted)
    view(page, "claim").get_by_role("button", name="Email me a code").click()
    view(page, "claim-code").get_by_label("Code from the email").fill(email_code(server, wanted))
    view(page, "claim-code").get_by_role("button", name="Take back the address").click()

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(view(page, "signin").get_by_role("status")).to_have_text(
        "The address is free and yours to use. Sign in and change your email to it, or create an account"
        " with it."
    )
    # signing in later in the same page: the account page fills in nothing it was not asked for
    submit_sign_in(page, account)
    view(page, "code").get_by_label("Sign-in code").fill(server.wait_for_code(account.phone, count=1))
    view(page, "code").get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {account.email}!")).to_be_visible()
    page.get_by_role("link", name="Your account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("#email-form").get_by_label("New email")).to_have_value("")
