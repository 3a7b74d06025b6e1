"""The email that tells an owner of an account change ends with when and from where it was made.

Before, "your account's password was reset" said nothing more: an owner could not tell whether that was
them. Now the email ends, after a blank line, with the time (UTC, from the service's clock), the device
(browser and system, or the tool, from the User-Agent) and the network (the /24 or /48, never the whole
address), labelled in the owner's language; "not recognised" where the request named nothing. A change an
operator made with `twostep users set-email` names an administrator instead of a device and network. The
text that tells the owner stays as it was: its length is its cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import register, sign_in
from tests.functional.test_account_lifecycle import _change_address, verify_email
from tests.functional.test_localised_emails import last_email
from tests.functional.test_password_reset_notice import reset_password
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock

ADDRESS = "test@example.com"
AMERICAN, GERMAN = "+14155552671", "+4915112345601"  # accounts whose notices are in English, in German
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHANGED_AT = datetime(2026, 12, 2, 14, 5, 37, tzinfo=UTC)


@pytest.fixture(autouse=True)
def changed_at(clock: FixedClock) -> None:
    clock.set(CHANGED_AT)


@contextmanager
def calling_from(container: Container, ip: str, user_agent: str | None) -> Iterator[TestClient]:
    """A client whose requests come from `ip` with `user_agent` (None: no User-Agent header at all)."""
    with TestClient(create_app(container), client=(ip, 50000)) as client:
        if user_agent is None:
            del client.headers["user-agent"]
        else:
            client.headers["user-agent"] = user_agent
        yield client


def proven_owner(client: TestClient, container: Container, phone: str = AMERICAN) -> dict[str, Any]:
    """An account with its number and address proven; returns its tokens."""
    register(client, phone=phone)
    tokens = sign_in(client, container, phone=phone)
    verify_email(client, container, tokens, ADDRESS)
    return tokens


def notice_origin(container: Container) -> list[str]:
    """The lines after the blank line that ends the last notice's text, in the email to the old address."""
    _, body = last_email(container, ADDRESS)
    text, blank, origin = body.rpartition("\n\n")
    assert blank and text, body
    return origin.splitlines()


def test_a_reset_notice_says_when_and_from_which_browser_and_network(container: Container) -> None:
    with calling_from(container, "203.0.113.77", FIREFOX_LINUX) as client:
        proven_owner(client, container)
        reset_password(client, container, "sms", AMERICAN)

    assert notice_origin(container) == [
        "Time: 2026-12-02 14:05 UTC",
        "Device: Firefox (Linux)",
        "Network: 203.0.113.0/24",
    ]
    assert "203.0.113.77" not in last_email(container, ADDRESS)[1]


def test_an_address_change_notice_names_the_tool_and_the_ipv6_network(container: Container) -> None:
    with calling_from(container, "2001:db8:1:2::7", "curl/8.5.0") as client:
        _change_address(client, container, proven_owner(client, container))  # to new@example.com

    _, body = last_email(container, ADDRESS)
    assert body.startswith("twostep: your account's email address is now n**@example.com.")
    assert notice_origin(container) == [
        "Time: 2026-12-02 14:05 UTC",
        "Device: curl",
        "Network: 2001:db8:1::/48",
    ]
    assert "2001:db8:1:2::7" not in body


def test_without_a_user_agent_or_an_address_both_are_not_recognised(container: Container) -> None:
    with calling_from(container, "testclient", None) as client:  # the peer is not an IP address
        proven_owner(client, container)
        reset_password(client, container, "sms", AMERICAN)

    assert notice_origin(container)[1:] == ["Device: not recognised", "Network: not recognised"]


def test_an_address_an_administrator_set_names_the_administrator_and_no_device(
    container: Container,
) -> None:
    """`twostep users set-email` goes through `AccountService.set_email` (tests/functional/test_cli_set_email.py
    runs the command itself)."""
    with calling_from(container, "203.0.113.77", FIREFOX_LINUX) as client:
        proven_owner(client, container)
    user = container.storage.find_user_by_email(ADDRESS)
    assert user is not None
    container.account.set_email(user.id, "new@example.com")

    assert notice_origin(container) == ["Time: 2026-12-02 14:05 UTC", "Changed by: an administrator"]


def test_the_text_is_the_notice_alone_and_the_email_adds_the_origin(container: Container) -> None:
    with calling_from(container, "203.0.113.77", FIREFOX_LINUX) as client:
        proven_owner(client, container)
        # By an emailed code: the number is told too (the mailbox may be what was stolen).
        reset_password(client, container, "email", AMERICAN)

    text = container.storage.list_outbox(to=AMERICAN, last=1)[-1].body
    assert text == "twostep: your account's password was reset. Not you? Reset your password now."
    origin = "Time: 2026-12-02 14:05 UTC\nDevice: Firefox (Linux)\nNetwork: 203.0.113.0/24"
    assert last_email(container, ADDRESS)[1] == f"{text}\n\n{origin}"


def test_the_origin_is_labelled_in_the_owners_language(container: Container) -> None:
    with calling_from(container, "203.0.113.77", FIREFOX_LINUX) as client:
        proven_owner(client, container, GERMAN)
        reset_password(client, container, "sms", GERMAN)

    assert notice_origin(container) == [
        "Zeitpunkt: 2026-12-02 14:05 UTC",
        "Gerät: Firefox (Linux)",
        "Netzwerk: 203.0.113.0/24",
    ]


def test_an_ipv4_client_of_a_server_listening_on_ipv6_is_named_by_its_24(container: Container) -> None:
    """`twostep serve --host ::` sees an IPv4 client as `::ffff:203.0.113.77`; its /48 was `::/48`, the
    same for every IPv4 client, in the notice and in the session list."""
    with calling_from(container, "::ffff:203.0.113.77", FIREFOX_LINUX) as client:
        tokens = proven_owner(client, container)
        listed = client.get("/sessions", headers={"Authorization": f"Bearer {tokens['accessToken']}"})
        reset_password(client, container, "sms", AMERICAN)

    assert [session["ip"] for session in listed.json()["sessions"]] == ["203.0.113.0/24"]
    assert notice_origin(container)[2] == "Network: 203.0.113.0/24"
