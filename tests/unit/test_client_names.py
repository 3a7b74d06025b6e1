"""One parser of the User-Agent (`name_client`) serves the session list and the remembered devices
("Firefox on Linux") and the notice's email ("Firefox (Linux)"): they can never disagree about what a
client is."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from twostep.api.device_cookie import device_label
from twostep.services.client_description import ClientNames, describe_client, name_client

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (FIREFOX_LINUX, ClientNames(browser="Firefox", system="Linux")),
        (EDGE_WINDOWS, ClientNames(browser="Edge", system="Windows")),  # not Chrome, nor Safari
        ("SomeBot Firefox/1.0", ClientNames(browser="Firefox")),
        ("Dalvik/2.1.0 (Linux; U; Android 14)", ClientNames(system="Android")),  # no tool: a system
        ("curl/8.5.0", ClientNames(tool="curl")),
        ("  python-httpx/0.27.0 ", ClientNames(tool="python-httpx")),
        ("???", ClientNames()),
        ("", ClientNames()),
        (None, ClientNames()),
    ],
)
def test_name_client_names_the_browser_system_or_tool(agent: str | None, expected: ClientNames) -> None:
    assert name_client(agent) == expected


@pytest.mark.parametrize(
    ("names", "in_a_list", "in_a_notice"),
    [
        (ClientNames("Firefox", "Linux"), "Firefox on Linux", "Firefox (Linux)"),
        (ClientNames(browser="Firefox"), "Firefox", "Firefox"),
        (ClientNames(system="Android"), "Android", "Android"),
        (ClientNames(tool="curl"), "curl", "curl"),
        (ClientNames(), None, None),
    ],
)
def test_a_label_joins_both_names_or_gives_the_one_known(
    names: ClientNames, in_a_list: str | None, in_a_notice: str | None
) -> None:
    assert names.label("{browser} on {system}") == in_a_list
    assert names.label("{browser} ({system})") == in_a_notice


def test_describe_client_reads_through_name_client() -> None:
    assert describe_client(FIREFOX_LINUX) == "Firefox on Linux"
    assert describe_client("Dalvik/2.1.0 (Linux; U; Android 14)") == "Android"
    assert describe_client("???") == "Unknown client"  # something was sent, naming nothing
    assert describe_client("   ") is None  # nothing was sent


def _request(agent: str | None) -> Request:
    headers = [] if agent is None else [(b"user-agent", agent.encode())]
    return Request({"type": "http", "method": "POST", "path": "/login", "headers": headers})


IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
OPERA_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0"
)


@pytest.mark.parametrize("agent", [FIREFOX_LINUX, EDGE_WINDOWS, IPHONE_SAFARI, OPERA_MAC, "curl/8.5.0"])
def test_a_remembered_device_is_named_as_its_session_is(agent: str) -> None:
    assert device_label(_request(agent)) == describe_client(agent)


@pytest.mark.parametrize(
    ("agent", "label"),
    [(IPHONE_SAFARI, "Safari on iOS"), (OPERA_MAC, "Opera on macOS")],  # not "iPhone", not "Chrome"
)
def test_a_remembered_device_names_the_system_and_the_browser(agent: str, label: str) -> None:
    assert device_label(_request(agent)) == label


@pytest.mark.parametrize("agent", [None, "", "<script>alert(1)</script>", "???"])
def test_a_device_that_names_nothing_is_unknown_and_its_agent_is_never_echoed(agent: str | None) -> None:
    assert device_label(_request(agent)) == "Unknown device"
