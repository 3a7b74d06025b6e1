"""uvicorn and `client_ip` trust the same proxies: uvicorn is given each as the network `client_ip` reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from uvicorn.middleware.proxy_headers import _TrustedHosts

from tests.conftest import settings_for_tests
from twostep.api.edge import forwarded_allow_ips


@pytest.mark.parametrize(
    ("trusted", "peer"),
    [
        ("127.0.0.1/8", "127.0.0.5"),  # host bits set: uvicorn took it for a name no peer has
        ("127.0.0.1/32", "::ffff:127.0.0.1"),  # an IPv4 proxy as a server listening on `::` sees it
        ("10.0.0.0/8", "::ffff:10.1.2.3"),
        ("2001:db8::/32", "2001:db8::7"),
    ],
)
def test_uvicorn_trusts_the_proxies_client_ip_trusts(tmp_path: Path, trusted: str, peer: str) -> None:
    settings = settings_for_tests(tmp_path, trusted_proxies=trusted)

    assert peer in _TrustedHosts(forwarded_allow_ips(settings))


def test_no_other_peer_is_trusted(tmp_path: Path) -> None:
    hosts = _TrustedHosts(forwarded_allow_ips(settings_for_tests(tmp_path, trusted_proxies="10.0.0.0/8")))

    assert "11.0.0.1" not in hosts and "::ffff:11.0.0.1" not in hosts and "::a00:1" not in hosts
