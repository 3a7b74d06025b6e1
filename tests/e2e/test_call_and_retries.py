"""The code step's "Call me instead" and the Idempotency-Key the UI sends: a call is offered only where
the voice channel is configured, its code signs in, and a double-click or a retry after a lost answer
sends one message."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    LiveServer,
    new_person,
    restart_the_page_clock,
    start_server,
    stop_the_page_clock,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def textonly_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """No voice channel: the console carries SMS and WhatsApp only."""
    live = start_server(tmp_path_factory.mktemp("textonly"), TWOSTEP_CHANNEL_PROVIDERS="whatsapp:console")
    yield live
    live.stop()


def sends(page: Any) -> list[Any]:
    """Every request the page makes to a code-sending endpoint, as it makes it."""
    seen: list[Any] = []
    pattern = re.compile(r"/(login|otp/[^/]+/(send|resend))$")
    page.on("request", lambda request: seen.append(request) if pattern.search(request.url) else None)
    return seen


def calls(server: LiveServer, to: str) -> list[dict[str, Any]]:
    return [entry for entry in server.outbox(to) if entry["channel"] == "voice"]


def spoken_code(body: str) -> str:
    """The digits a call reads out one by one ("1, 2, 3, 4, 5, 6")."""
    match = re.search(r"\d(?:, \d)+", body)
    assert match is not None, "the call reads no code"
    return match.group(0).replace(", ", "")


def test_call_me_instead_reads_a_code_that_signs_in(
    server: LiveServer, page: Any, account: Any, sign_in: Any
) -> None:
    seen = sends(page)
    # the resend cooldown holds a call back too, only 3 s here: the page's clock stands still until checked
    stop_the_page_clock(page)
    sign_in(page, server, account)
    call = page.get_by_role("button", name="Call me instead")
    expect(call).to_be_visible()
    expect(call).to_be_disabled()
    server.wait_for_code(account.phone)
    restart_the_page_clock(page)
    expect(call).to_be_enabled(timeout=10_000)

    call.dblclick()

    expect(page.locator("[data-resend-status]")).to_contain_text("We are calling")
    (made,) = calls(server, account.phone)
    sent = [request for request in seen if request.url.endswith("/send")]
    assert len(sent) == 1 and sent[0].post_data_json == {"channel": "voice"}
    logins = [request for request in seen if request.url.endswith("/login")]
    assert logins and not any(
        request.headers.get("idempotency-key") for request in logins
    )  # no password kept
    assert all(request.headers.get("idempotency-key") for request in sent)
    page.get_by_label("Sign-in code").fill(spoken_code(str(made["body"])))
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {account.email}!")).to_be_visible()


@pytest.mark.parametrize(
    ("gateway", "shown"),
    [
        (None, "We couldn't reach twostep"),  # the connection drops
        (504, "twostep took too long to answer"),  # a gateway gives up and answers for the server
    ],
)
def test_a_retry_after_a_lost_answer_calls_once(
    server: LiveServer, page: Any, account: Any, sign_in: Any, gateway: int | None, shown: str
) -> None:
    seen = sends(page)
    sign_in(page, server, account)
    call = page.get_by_role("button", name="Call me instead")
    expect(call).to_be_enabled(timeout=10_000)
    lost: list[int] = []

    def lose_the_answer(route: Any) -> None:
        answer = route.fetch()  # the server takes the request and places the call...
        lost.append(answer.status)
        if gateway is None:
            route.abort("connectionreset")  # ...but its answer never reaches the page
        else:
            route.fulfill(status=gateway, body="")

    page.route("**/otp/*/send", lose_the_answer)
    call.click()
    expect(page.locator("#code-form [role=alert]")).to_contain_text(shown)
    page.unroute("**/otp/*/send")
    expect(call).to_be_enabled()
    call.click()  # the user tries again

    expect(page.locator("[data-resend-status]")).to_contain_text("We are calling")
    assert lost == [202]
    first, again = (request for request in seen if request.url.endswith("/send"))
    assert first.headers["idempotency-key"] == again.headers["idempotency-key"]
    assert again.response().headers.get("idempotent-replayed") == "true"
    assert len(calls(server, account.phone)) == 1  # one call, not two


def test_no_call_button_without_a_voice_channel(
    textonly_server: LiveServer, page: Any, sign_in: Any, register: Any
) -> None:
    someone = new_person()
    register(textonly_server, someone)
    sign_in(page, textonly_server, someone)
    expect(page.get_by_role("button", name="Send a new code")).to_be_visible()
    expect(page.get_by_role("button", name="Call me instead")).to_be_hidden()
