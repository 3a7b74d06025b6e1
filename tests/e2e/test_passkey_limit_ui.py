"""The passkey limit on the security page, in real Chromium with a virtual authenticator: before, a full
account was still offered "Add a passkey", and learnt it was full only after typing its password again
(the refusal's sentence). The page now says how many passkeys it has, the most it may have, and how to
make room, in place of the button; removing one brings the button back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, new_person, start_server
from tests.e2e.test_security_page import (
    confirm_password,
    localhost,
    open_security,
    sign_in_by_sms,
    virtual_authenticator,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
FULL = "You have 1 passkey; an account may have at most 1. To add another, first remove one with its Remove button above."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path_factory.mktemp("passkey-limit"),
        TWOSTEP_RESEND_COOLDOWN_SECONDS="0",
        TWOSTEP_PASSKEY_LIMIT="1",
    )
    yield live
    live.stop()


def test_a_full_account_is_shown_the_limit_instead_of_the_button(
    server: Any, page: Any, register: Any
) -> None:
    account = new_person()
    register(server, account)
    virtual_authenticator(page)
    sign_in_by_sms(page, server, account, localhost(server))
    open_security(page)
    page.get_by_role("button", name="Add a passkey").click()
    confirm_password(page, account.password)
    expect(page.get_by_role("status").filter(has_text="Passkey added.")).to_be_visible()
    expect(page.locator("[data-passkeys] li")).to_have_count(1)
    expect(page.get_by_role("button", name="Add a passkey")).to_have_count(0)
    expect(page.locator("[data-passkey-limit]")).to_have_text(FULL)

    # the same on a fresh visit of the page
    page.reload()
    expect(page.locator("[data-passkey-limit]")).to_have_text(FULL)
    expect(page.get_by_role("button", name="Add a passkey")).to_have_count(0)

    # removing the passkey makes room: the button is back, the sentence gone
    page.locator("[data-passkeys]").get_by_role("button", name="Remove").click()
    confirm_password(page, account.password)
    expect(page.get_by_role("status").filter(has_text="Passkey removed.")).to_be_visible()
    expect(page.get_by_role("button", name="Add a passkey")).to_be_visible()
    expect(page.locator("[data-passkey-limit]")).to_have_count(0)
