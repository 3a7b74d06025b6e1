"""`twostep serve --host ::` behind a proxy on the same machine: an IPv4 peer arrives as `::ffff:127.0.0.1`.

Before, that peer was in no IPv4 network of `TWOSTEP_TRUSTED_PROXIES`, so the client's forwarded address
was ignored (every client behind the proxy shared its limits), and the session list named the peer's /48,
`::/48`, the same for every IPv4 client.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.test_account_live import PASSWORD, auth, register, sign_in
from tests.live import ServerProcess

OTHER_PHONE = "+14155552672"  # the first test's account proved the suite's usual number


def dual_stack() -> bool:
    """Whether this host can listen on `::` and be reached there over IPv4."""
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if not dual_stack():
        pytest.skip("this host cannot listen on :: for IPv4 clients")
    workdir: Path = tmp_path_factory.mktemp("dual-stack-live")
    with ServerProcess(
        workdir, serve_args=("--host", "::"), TWOSTEP_TRUSTED_PROXIES="127.0.0.1/32"
    ) as running:
        yield running


def test_an_ipv4_proxy_is_trusted_and_its_client_named_by_its_24(server: ServerProcess) -> None:
    assert register(server, "dual@example.com").status_code == 201
    tokens = sign_in(server, "dual@example.com")  # forwarded for 198.51.100.20

    listed = httpx.get(f"{server.base_url}/sessions", headers=auth(tokens), timeout=30)

    assert [session["ip"] for session in listed.json()["sessions"]] == ["198.51.100.0/24"]


def test_a_proxy_that_adds_its_own_forwarded_line_names_the_client(server: ServerProcess) -> None:
    """HAProxy's `option forwardfor` adds a line after the client's own; the first line was read alone,
    so a client named any address it liked."""
    assert register(server, "lines@example.com", OTHER_PHONE).status_code == 201
    lines = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "198.51.100.20")]
    body = {"email": "lines@example.com", "password": PASSWORD}
    started = httpx.post(f"{server.base_url}/login", json=body, headers=lines, timeout=30)
    otp = {"otp": server.latest_code(OTHER_PHONE)}
    url = f"{server.base_url}/otp/{started.json()['otpId']}/verify"
    tokens = httpx.post(url, json=otp, headers=lines, timeout=30).json()

    listed = httpx.get(f"{server.base_url}/sessions", headers=auth(tokens), timeout=30)

    assert [session["ip"] for session in listed.json()["sessions"]] == ["198.51.100.0/24"]


def test_a_local_scrape_reads_the_metrics_and_a_client_behind_the_proxy_does_not(
    server: ServerProcess,
) -> None:
    """`::ffff:127.0.0.1` was not loopback to the metrics' check (403 to a local scrape); uvicorn did not
    take it for the trusted proxy either, so once it was, a client behind the proxy would have read them."""
    url = f"{server.base_url}/metrics"

    assert httpx.get(url, timeout=30).status_code == 200
    assert httpx.get(url, headers={"X-Forwarded-For": "203.0.113.5"}, timeout=30).status_code == 403
