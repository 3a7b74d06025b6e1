"""The security page and the choice of factor in real Chromium: a passkey registered through a virtual
authenticator (DevTools `WebAuthn` domain) then used to sign in, both as the second step and without a
password; an authenticator app enrolled from its QR page and used at sign-in."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, new_person, start_server, submit_sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """No resend cooldown: these journeys sign in by SMS several times within seconds."""
    live = start_server(tmp_path_factory.mktemp("security"), TWOSTEP_RESEND_COOLDOWN_SECONDS="0")
    yield live
    live.stop()


@pytest.fixture
def account(server: LiveServer, register: Any) -> Any:
    someone = new_person()
    register(server, someone)
    return someone


def localhost(server: Any) -> str:
    """WebAuthn needs a domain for its RP id (an IP address cannot hold passkeys); localhost is a
    secure context over plain http."""
    return server.base_url.replace("127.0.0.1", "localhost")


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    """A platform authenticator with resident keys and user verification (a PIN/biometric that passes)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def sign_in_by_sms(page: Any, server: Any, who: Any, base: str) -> None:
    page.goto(f"{base}/#/signin")
    submit_sign_in(page, who)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    sent = len(server.outbox(who.phone))
    page.get_by_label("Sign-in code").fill(server.wait_for_code(who.phone, count=sent))
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {who.email}!")).to_be_visible()


def open_security(page: Any) -> None:
    page.get_by_role("link", name="Security settings").click()
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()


def sign_out(page: Any) -> None:
    """From wherever the page is, by way of home (the top bar's button, on every signed-in page)."""
    page.evaluate("() => { location.hash = '#/'; }")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def confirm_password(page: Any, password: str) -> None:
    """The security page's prompt for the current password, before it adds or removes a way to sign in."""
    page.locator("[data-password-prompt]").get_by_label("Current password").fill(password)
    page.locator("[data-password-prompt]").get_by_role("button", name="Continue").click()


def test_register_a_passkey_and_sign_in_with_it(
    server: Any, page: Any, account: Any, screenshot: Any
) -> None:
    base = localhost(server)
    cdp, authenticator = virtual_authenticator(page)
    sign_in_by_sms(page, server, account, base)
    open_security(page)
    expect(page.get_by_text("No passkeys yet.")).to_be_visible()
    page.get_by_role("button", name="Add a passkey").click()
    confirm_password(page, account.password)
    expect(page.get_by_role("status").filter(has_text="Passkey added.")).to_be_visible()
    expect(page.locator("[data-passkeys] li")).to_have_count(1)
    # Each row's button was just "Remove": in a screen reader's list of buttons, which passkey it removes
    # was not said. The name now names the row, its visible word first.
    row = page.locator("[data-passkeys] li span").inner_text()
    expect(page.locator("[data-passkeys] li button")).to_have_accessible_name(f"Remove: {row}")
    screenshot(page, "security")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]

    # the passkey as the second step after the password
    sign_out(page)
    submit_sign_in(page, account)
    # By keyboard: the pressed choice is replaced, and focus fell to <body> with it (a keyboard user was
    # sent back to the top of the page); it goes to the passkey step's button.
    page.get_by_role("button", name="Use a passkey").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Continue with a passkey")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Hello, {account.email}!")).to_be_visible()

    # and alone, without a password (the virtual authenticator verifies the user)
    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", name=f"Hello, {account.email}!")).to_be_visible()
    after = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert after[0]["signCount"] >= 2, "each use moved the signature counter"

    # removing it asks for the password again too; a wrong one removes nothing
    open_security(page)
    page.locator("[data-passkeys]").get_by_role("button", name="Remove").click()
    confirm_password(page, "not the password")
    prompt = page.locator("[data-password-prompt]")
    expect(prompt.get_by_role("alert")).to_have_text("The current password is wrong.")
    expect(page.locator("[data-passkeys] li")).to_have_count(1)
    # By keyboard. The page was rebuilt after each change, status included: the used button's focus fell to
    # <body>, and the new status, made with its words, was never read out. The status now stays the
    # same live region, and focus goes to the page's heading.
    status = page.locator("[data-security-status]").element_handle()
    page.locator("[data-passkeys]").get_by_role("button", name="Remove").focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-password-prompt]").get_by_label("Current password")).to_be_focused()
    page.keyboard.type(account.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Passkey removed.")).to_be_visible()
    assert status.evaluate("(region) => region.isConnected && region.textContent") == "Passkey removed."
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_focused()
    expect(page.get_by_text("No passkeys yet.")).to_be_visible()


def test_enrol_an_authenticator_app_and_sign_in_with_it(server: Any, page: Any, account: Any) -> None:
    base = localhost(server)
    sign_in_by_sms(page, server, account, base)
    open_security(page)
    page.get_by_role("button", name="Set up an authenticator app").click()
    confirm_password(page, account.password)
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    totp = pyotp.TOTP(page.locator("[data-totp-secret]").inner_text())
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("[data-recovery-codes] li")).to_have_count(10)
    expect(page.locator("[data-totp-state]")).to_contain_text("On")

    sign_out(page)
    texts = len(server.outbox(account.phone))
    submit_sign_in(page, account)
    expect(page.get_by_text("Enter the 6-digit code your authenticator app shows now.")).to_be_visible()
    expect(page.get_by_role("button", name="Text me a code instead")).to_be_visible()
    # The field's description was the hidden texted-code lead ("We sent a code by text message to …"):
    # a screen-reader user was told to wait for a text that never came.
    expect(page.get_by_label("Sign-in code")).to_have_accessible_description(
        "Enter the 6-digit code your authenticator app shows now."
    )
    page.get_by_label("Sign-in code").fill(
        totp.at(time.time() + 30)
    )  # the next step: the enrolment spent this one
    page.locator("#code-form").get_by_label(re.compile("Remember this device")).check()
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {account.email}!")).to_be_visible()
    assert len(server.outbox(account.phone)) == texts, "no text message for an app sign-in"

    # the remembered device skips the second step, and shows on the security page
    sign_out(page)
    submit_sign_in(page, account)
    expect(page.get_by_role("heading", name=f"Hello, {account.email}!")).to_be_visible()
    open_security(page)
    expect(page.locator("[data-devices] li")).to_have_count(1)
    page.locator("[data-devices]").get_by_role("button", name="Forget").click()
    expect(page.get_by_text("No remembered devices.")).to_be_visible()

    # new recovery codes, after the password again
    page.get_by_role("button", name="Make new recovery codes").click()
    confirm_password(page, account.password)
    expect(page.locator("[data-recovery-codes] li")).to_have_count(10)


def test_a_wrong_password_or_app_code_is_told_in_its_form(server: Any, page: Any, account: Any) -> None:
    """A wrong current password or a wrong code from the app stood in the page's green status at the top,
    far from the field (on a phone, off screen above the QR code) and styled as a success; the field was
    not marked. Each now stands in its form, the code's at the code field."""
    base = localhost(server)
    sign_in_by_sms(page, server, account, base)
    open_security(page)
    page.get_by_role("button", name="Set up an authenticator app").click()
    confirm_password(page, "not the password")
    prompt = page.locator("[data-password-prompt]")
    expect(prompt.get_by_role("alert")).to_have_text("The current password is wrong.")
    expect(page.locator("[data-security-status]")).to_be_empty()
    confirm_password(page, account.password)
    code = page.get_by_label("Code from the app")
    code.fill("000000")
    code.press("Enter")
    expect(page.locator("#totp-code-error")).to_contain_text("does not match the authenticator app")
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(code).to_be_focused()
    expect(page.locator("[data-security-status]")).to_be_empty()
