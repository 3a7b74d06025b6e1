"""Which address the limits count: X-Forwarded-For only from a trusted proxy, read right to left."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from tests.limits.helpers import assert_limited
from twostep.api.app import create_app
from twostep.api.deps import client_ip
from twostep.container import Container

MakeContainer = Callable[..., Container]


def request_from(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 1234)})


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", [], "203.0.113.9"),  # nobody trusted: the header is ignored
        ("203.0.113.9", "1.2.3.4", ["10.0.0.0/8"], "203.0.113.9"),  # peer not a trusted proxy
        ("10.0.0.5", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.5", "6.6.6.6, 1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),  # a client-written left part is ignored
        ("10.0.0.5", "6.6.6.6, 1.2.3.4, 10.0.0.7", ["10.0.0.0/8"], "1.2.3.4"),  # two proxies
        ("10.0.0.5", "10.0.0.8, 10.0.0.7", ["10.0.0.0/8"], "10.0.0.5"),  # only proxies: the peer
        ("10.0.0.5", "not-an-ip", ["10.0.0.0/8"], "10.0.0.5"),  # garbage: fall back to the peer
        ("10.0.0.5", "1.2.3.4, bogus", ["10.0.0.0/8"], "10.0.0.5"),
        ("10.0.0.5", "", ["10.0.0.0/8"], "10.0.0.5"),
        ("10.0.0.5", None, ["10.0.0.0/8"], "10.0.0.5"),
        ("::1", "2001:db8::1", ["::1"], "2001:db8::1"),
        # A server listening on `::` sees an IPv4 proxy as `::ffff:10.0.0.5`: still the proxy named 10.0.0.0/8.
        ("::ffff:10.0.0.5", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.5", "1.2.3.4, ::ffff:10.0.0.7", ["10.0.0.0/8"], "1.2.3.4"),
        ("::ffff:203.0.113.9", "1.2.3.4", ["10.0.0.0/8"], "::ffff:203.0.113.9"),  # not a proxy: the peer
        ("10.0.0.5", "9.9.9.9, " * 1000 + "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),  # long header, right end
    ],
)
def test_client_ip(peer: str, forwarded: str | None, trusted: list[str], expected: str) -> None:
    assert client_ip(request_from(peer, forwarded), trusted) == expected


def test_every_forwarded_for_line_is_read() -> None:
    """A proxy that adds its own line after the client's (HAProxy's `option forwardfor`) names the client
    in the last line; the first is whatever the client wrote."""
    lines = [(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"1.2.3.4")]
    request = Request(
        {"type": "http", "method": "GET", "path": "/", "headers": lines, "client": ("10.0.0.5", 1)}
    )

    assert client_ip(request, ["10.0.0.0/8"]) == "1.2.3.4"


def test_spoofed_forwarded_for_does_not_escape_the_ip_limit(make_container: MakeContainer) -> None:
    container = make_container(ip_login_per_minute=3, trusted_proxies="127.0.0.1")
    with TestClient(create_app(container)) as client:  # the peer is "testclient", not a trusted proxy
        for i in range(3):
            response = client.post(
                "/login",
                json={"email": f"u{i}@example.com", "password": "wrong password here"},
                headers={"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"198.51.100.{i}"},
            )
            assert response.status_code == 401
        refused = client.post(
            "/login",
            json={"email": "u9@example.com", "password": "wrong password here"},
            headers={"X-Forwarded-For": "198.51.100.99"},
        )
        assert_limited(refused, "ip_login_rate")
    assert {e.ip for e in container.audit.tail()} == {"testclient"}


def test_trusted_proxy_forwards_the_client_address(make_container: MakeContainer) -> None:
    container = make_container(ip_login_per_minute=2, trusted_proxies="127.0.0.1")
    app = create_app(container)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:

        def attempt(forwarded: str) -> int:
            response = client.post(
                "/login",
                json={"email": "u@example.com", "password": "wrong password here"},
                headers={"X-Forwarded-For": forwarded},
            )
            return int(response.status_code)

        assert [attempt("198.51.100.1") for _ in range(2)] == [401, 401]
        assert attempt("198.51.100.1") == 429
        # A client that writes its own header in front of the proxy's entry is still 198.51.100.1.
        assert attempt("203.0.113.50, 198.51.100.1") == 429
        assert attempt("198.51.100.2") == 401  # a different real client has its own budget
    ips = {e.ip for e in container.audit.tail()}
    assert ips == {"198.51.100.1", "198.51.100.2"}
