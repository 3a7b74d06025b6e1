"""Browser tests: Debian's Chromium driven by Playwright against a real `twostep serve`."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import ServerProcess, code_in

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
_numbers = itertools.count(100)


class LiveServer(ServerProcess):
    def wait_for_text(self, to: str, *, count: int = 1, timeout: float = 15.0) -> str:
        """The body of the `count`-th message to `to`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.outbox(to)
            if len(entries) >= count:
                return str(entries[count - 1]["body"])
            assert time.monotonic() < deadline, f"no message #{count} to the test number arrived"
            time.sleep(0.2)

    def wait_for_code(self, to: str, *, count: int = 1, timeout: float = 15.0) -> str:
        """The code in the `count`-th message to `to`, waiting for it to arrive."""
        return code_in(self.wait_for_text(to, count=count, timeout=timeout))


def start_server(workdir: Path, **overrides: str) -> LiveServer:
    """`twostep serve` with a short resend cooldown (the countdown test waits it out)."""
    settings = {"TWOSTEP_RESEND_COOLDOWN_SECONDS": "3", "TWOSTEP_OTP_TTL_SECONDS": "120", **overrides}
    server = LiveServer(workdir, **settings)
    server.start()
    return server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (`make test` installs Debian's chromium)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@dataclass
class Person:
    first: str
    last: str
    email: str
    password: str
    phone: str  # E.164
    national: str  # what a US user types with the country hint


def new_person() -> Person:
    n = next(_numbers)
    tag = uuid.uuid4().hex[:8]
    return Person(
        first="Ada",
        last="Lovelace",
        email=f"ada.{tag}@example.com",
        password=f"correct horse battery {tag}",
        phone=f"+1202555{n:04d}",
        national=f"(202) 555-{n:04d}",
    )


def _register(server: LiveServer, person: Person) -> None:
    """Create the account through the API (the sign-up form has its own journey)."""
    response = httpx.post(
        f"{server.base_url}/register",
        json={
            "firstName": person.first,
            "lastName": person.last,
            "email": person.email,
            "password": person.password,
            "phoneNumber": person.phone,
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("server"))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def expiring_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose codes live 5 s (the smallest TWOSTEP_OTP_TTL_SECONDS allowed)."""
    live = start_server(tmp_path_factory.mktemp("expiring"), TWOSTEP_OTP_TTL_SECONDS="5")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (`make test` installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh browser context (no cookies, no storage); fails the test on any CSP violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    tab = context.new_page()
    violations: list[str] = []
    tab.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    tab.on("pageerror", lambda error: violations.append(f"uncaught: {error}"))
    yield tab
    context.close()
    assert not violations, violations


@pytest.fixture
def person() -> Person:
    return new_person()


@pytest.fixture
def account(server: LiveServer) -> Person:
    """A registered person on the shared server."""
    someone = new_person()
    _register(server, someone)
    return someone


@pytest.fixture
def register() -> Callable[[LiveServer, Person], None]:
    return _register


def view(tab: Any, name: str) -> Any:
    """The view `name` (its `data-view`), only while it is on show: the others are hidden sections of the
    same page. Right after a click or a `goto` that changes the route, the view before stays on show until
    the new view's enter() resolves; a locator for "whichever view is on show" then finds the old view's
    fields (Playwright's strict mode fails at once on several, or the action lands on the wrong one). This
    one matches nothing until `name` is on show, so Playwright waits for it."""
    return tab.locator(f'section[data-view="{name}"]:not([hidden])')


def stop_the_page_clock(tab: Any) -> None:
    """Stop the page's clock (timers and Date) a second ahead of now, so never behind the server's: a
    countdown that an answer starts later stays where it began, however long a loaded machine takes to show
    it. `restart_the_page_clock` lets it run on."""
    tab.clock.install()
    tab.clock.pause_at(time.time() + 1)


def restart_the_page_clock(tab: Any) -> None:
    """The page's clock runs on from the real time, its timers firing as they fall due."""
    tab.clock.set_system_time(time.time())
    tab.clock.resume()


def submit_sign_in(tab: Any, who: Person) -> None:
    """Email and password into the sign-in view, once it is on show, and Continue."""
    form = view(tab, "signin")
    form.get_by_label("Email").fill(who.email)
    form.get_by_label("Password").fill(who.password)
    form.get_by_role("button", name="Continue").click()


@pytest.fixture
def sign_in() -> Callable[[object, LiveServer, Person], None]:
    """Fill in the sign-in form and wait for the code step."""

    def run(tab: Any, live: LiveServer, who: Person) -> None:
        # a page already on another view stays on it after this `goto` (only the hash changes) until
        # the sign-in view is on show: submit_sign_in waits for it
        tab.goto(f"{live.base_url}/#/signin")
        submit_sign_in(tab, who)
        tab.get_by_role("heading", name="Enter your code").wait_for()

    return run


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[object, str], None]:
    """A full-page screenshot; into docs/screenshots/<name>.png (the README's) only when
    TWOSTEP_UPDATE_SCREENSHOTS=1, so an ordinary test run leaves the committed images alone."""
    folder = SCREENSHOTS if os.environ.get("TWOSTEP_UPDATE_SCREENSHOTS") == "1" else tmp_path

    def take(tab: Any, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True, animations="disabled")
        assert path.stat().st_size > 0

    return take
