"""A client's share of an email's reset budgets against a live `twostep serve`: forged `X-Forwarded-For`
values from a client that is not a trusted proxy are one client (uvicorn's forwarded headers and the app's
client address believe only `TWOSTEP_TRUSTED_PROXIES`); from a trusted proxy they are the clients it names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import ServerProcess

NEW_PASSWORD = "a brand new passphrase here"
FORGED = [f"203.0.113.{i}" for i in range(1, 13)]  # twelve addresses, one a request


def serve(workdir: Path, **extra: str) -> ServerProcess:
    # The defaults' shape, small: 4 resets a day per email, 2 a client; 10 wrong codes, 5 a client.
    return ServerProcess(
        workdir,
        TWOSTEP_RESET_REQUESTS_PER_DAY="4",
        TWOSTEP_RESET_REQUESTS_PER_CLIENT_DAY="2",
        **extra,
    )


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve(tmp_path_factory.mktemp("reset-direct")) as running:
        yield running


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve(tmp_path_factory.mktemp("reset-proxied"), TWOSTEP_TRUSTED_PROXIES="127.0.0.1/32") as running:
        yield running


def post(
    server: ServerProcess, path: str, body: dict[str, str], forwarded_for: str
) -> tuple[int, str | None]:
    answer = httpx.post(
        f"{server.base_url}{path}", json=body, headers={"X-Forwarded-For": forwarded_for}, timeout=30
    )
    return answer.status_code, answer.json().get("limit")


def forgot_twelve(server: ServerProcess, email: str) -> list[tuple[int, str | None]]:
    return [post(server, "/password/forgot", {"email": email}, ip) for ip in FORGED]


def wrong_codes_twelve(server: ServerProcess, email: str) -> list[tuple[int, str | None]]:
    """Twelve wrong codes, each with another forged address, over two resets (a reset takes five)."""
    reset_ids = [
        httpx.post(f"{server.base_url}/password/forgot", json={"email": email}, timeout=30).json()["resetId"]
        for _ in range(2)
    ]
    return [
        post(
            server,
            "/password/reset",
            {"resetId": reset_ids[i // 6], "code": "000000", "newPassword": NEW_PASSWORD},
            ip,
        )
        for i, ip in enumerate(FORGED)
    ]


def test_forged_forwarded_addresses_spend_one_client_s_share_of_resets(direct: ServerProcess) -> None:
    assert (
        forgot_twelve(direct, "victim@example.com")
        == [(202, None)] * 2 + [(429, "reset_requests_client_day")] * 10
    )


def test_forged_forwarded_addresses_spend_one_client_s_share_of_wrong_codes(direct: ServerProcess) -> None:
    answers = wrong_codes_twelve(direct, "target@example.com")
    assert answers == [(401, None)] * 5 + [(429, "reset_wrong_codes_client_day")] * 7


def test_a_trusted_proxy_s_forwarded_addresses_are_its_clients(behind_proxy: ServerProcess) -> None:
    """The control: the header reaches the server, and from a trusted proxy each address is a client."""
    assert (
        forgot_twelve(behind_proxy, "victim@example.com")
        == [(202, None)] * 4 + [(429, "reset_requests_day")] * 8
    )
