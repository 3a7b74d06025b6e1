"""The new-password fields ask the length the API takes: 15 where a password may be the only factor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def password_only_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("password-only"), TWOSTEP_REQUIRE_SECOND_FACTOR="false")
    yield live
    live.stop()


def new_password_fields(page: Any) -> Any:
    return page.locator('input[autocomplete="new-password"]')


def test_a_password_only_deployment_asks_fifteen_characters(
    password_only_server: LiveServer, page: Any
) -> None:
    """Before, the sign-up hint said "At least 8 characters" and every new-password field had
    `minlength="8"` whatever the API took; with `TWOSTEP_REQUIRE_SECOND_FACTOR=false` the API asks 15."""
    page.goto(f"{password_only_server.base_url}/#/signup")
    expect(page.locator("#signup-password-hint")).to_have_text(
        "At least 15 characters. A long phrase is easiest to remember."
    )
    fields = new_password_fields(page)
    assert fields.count() == 3  # sign-up, reset, change
    for index in range(fields.count()):
        expect(fields.nth(index)).to_have_attribute("minlength", "15")


def test_with_a_second_factor_the_fields_ask_eight(server: LiveServer, page: Any) -> None:
    page.goto(f"{server.base_url}/#/signup")
    expect(page.locator("#signup-password-hint")).to_have_text(
        "At least 8 characters. A long phrase is easiest to remember."
    )
    fields = new_password_fields(page)
    for index in range(fields.count()):
        expect(fields.nth(index)).to_have_attribute("minlength", "8")
