"""The signed-in pages (home, account, sessions, security) in real Chromium: signing out from each of them,
and dates laid out as their reader's language writes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import view
from tests.e2e.test_sessions_ui import signed_in_in_browser

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

REFRESH_COOKIE = "__Host-twostep-refresh"


@pytest.mark.parametrize("route", ["account", "sessions", "security"])
def test_sign_out_from_every_signed_in_page(
    server: Any, page: Any, account: Any, sign_in: Any, route: str
) -> None:
    """The top bar's Sign out showed on home only: on the account, sessions and security pages a person
    (on a shared computer, say) had no way to sign out but going back home first."""
    signed_in_in_browser(page, server, account, sign_in)
    page.goto(f"{server.base_url}/#/{route}")
    expect(view(page, route).locator("h1")).to_be_visible()
    refresh = next(c["value"] for c in page.context.cookies() if c["name"] == REFRESH_COOKIE)
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(view(page, "signin").get_by_role("status")).to_contain_text("signed out")
    assert not [c for c in page.context.cookies() if c["name"] == REFRESH_COOKIE]
    ended = httpx.post(f"{server.base_url}/token/refresh", json={"refreshToken": refresh}, timeout=30)
    assert ended.status_code == 401


@pytest.fixture
def arabic_page(browser: Any) -> Iterator[Any]:
    """A browser whose language is Arabic, on a phone-sized screen."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="ar")
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


# Where the first digit of a date (its day) and its last letter (م or ص, the Arabic p.m. or a.m.) stand on
# screen. The page shows dates in the reader's format; an Arabic date runs right to left, its day rightmost.
DAY_AND_MARK = """(element) => {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) texts.push(node);
  const place = (node, index) => {
    const range = document.createRange();
    range.setStart(node, index);
    range.setEnd(node, index + 1);
    return range.getBoundingClientRect().left;
  };
  const day = texts.find((node) => /\\p{Nd}/u.test(node.data));
  const mark = texts.findLast((node) => /[مص]/.test(node.data));
  return [place(day, day.data.search(/\\p{Nd}/u)), place(mark, Math.max(mark.data.lastIndexOf("م"), mark.data.lastIndexOf("ص")))];
}"""


def reads_right_to_left(date: Any) -> bool:
    day, mark = date.evaluate(DAY_AND_MARK)
    return bool(day > mark)


def test_dates_read_right_to_left_in_arabic(
    server: Any, arabic_page: Any, account: Any, sign_in: Any, screenshot: Any
) -> None:
    """With the browser in Arabic, every date (a message's, a session's, a remembered device's) was laid
    out left to right inside the English line round it: its parts came out in the wrong order ("02م 5:31
    ،2026/12/")."""
    page = arabic_page
    count = len(server.outbox(account.phone)) + 1
    sign_in(page, server, account)
    page.get_by_label("Sign-in code").fill(server.wait_for_code(account.phone, count=count))
    page.get_by_role("checkbox", name="Remember this device (skip").check()
    page.get_by_role("button", name="Verify and sign in").click()
    home = view(page, "home")
    home.get_by_label("Your message").fill("مرحبا")
    home.get_by_role("button", name="Post message").click()
    expect(home.locator(".message-text").first).to_have_text("مرحبا")
    assert reads_right_to_left(home.locator(".message-meta time").first)

    page.goto(f"{server.base_url}/#/sessions")
    sessions = view(page, "sessions")
    for date in sessions.locator("[data-session] time").all():
        assert reads_right_to_left(date)
    screenshot(page, "sessions-arabic")

    page.goto(f"{server.base_url}/#/security")
    device = view(page, "security").locator("[data-devices] li span").first
    expect(device).to_contain_text("until")
    assert reads_right_to_left(device)


# Where a check box or radio button stands, and where the words of its label start, on screen.
CONTROL_AND_WORDS = """(control) => {
  const label = control.closest("label");
  const words = [...label.childNodes].find((node) => node.nodeType === Node.TEXT_NODE && node.data.trim());
  const range = document.createRange();
  range.setStart(words, words.data.search(/\\S/));
  range.setEnd(words, words.data.search(/\\S/) + 1);
  const box = control.getBoundingClientRect();
  return { width: box.width, right: box.right, wordsLeft: range.getBoundingClientRect().left };
}"""


def test_choices_sit_beside_their_words_on_a_phone(
    server: Any, page: Any, account: Any, sign_in: Any
) -> None:
    """Check boxes and radio buttons took the text fields' full width and 44 px height: on a 360 px screen
    each was a large circle or box in the middle of its row, its words pushed to the far side (the reset
    page's "Email" choice stood alone at the right edge)."""
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{server.base_url}/#/forgot")
    choices = view(page, "forgot").get_by_role("radio")
    expect(choices).to_have_count(2)
    placements = [choice.evaluate(CONTROL_AND_WORDS) for choice in choices.all()]
    sign_in(page, server, account)
    remember = view(page, "code").get_by_role("checkbox", name="Remember this device (skip")
    placements.append(remember.evaluate(CONTROL_AND_WORDS))
    for placed in placements:
        assert placed["width"] <= 32, placed
        assert 0 <= placed["wordsLeft"] - placed["right"] <= 16, placed
