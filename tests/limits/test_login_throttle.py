"""Per-account progressive login delay and per-IP login rate; unknown emails are treated the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, register
from tests.limits.helpers import assert_limited, run_together
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import InvalidCredentials, RateLimited
from twostep.domain.models import RequestContext

MakeContainer = Callable[..., Container]
KNOWN, UNKNOWN = "test@example.com", "nobody@example.com"


def login(client: TestClient, email: str, password: str = "wrong password here") -> Any:
    return client.post("/login", json={"email": email, "password": password})


def comparable(response: Any) -> tuple[int, dict[str, Any], str | None]:
    body = {k: v for k, v in response.json().items() if k != "requestId"}
    return response.status_code, body, response.headers.get("retry-after")


@pytest.fixture
def api(make_container: MakeContainer) -> Any:
    container = make_container(login_max_delay_seconds=20)
    with TestClient(create_app(container)) as client:
        register(client)
        yield client


def test_delay_grows_and_is_identical_for_unknown_email(api: TestClient, clock: FixedClock) -> None:
    seen: dict[str, list[Any]] = {KNOWN: [], UNKNOWN: []}
    for email in (KNOWN, UNKNOWN):
        for _ in range(5):  # the free failures
            seen[email].append(comparable(login(api, email)))
        for expected in (1, 2, 4, 8, 16, 20, 20):  # capped at login_max_delay_seconds=20
            seen[email].append(comparable(login(api, email)))  # admitted, wrong: starts the delay
            refused = login(api, email)
            assert_limited(refused, "account_login_delay", expected)
            seen[email].append(comparable(refused))
            clock.advance(expected - 1)
            assert_limited(login(api, email), "account_login_delay", 1)
            clock.advance(1)
    assert seen[KNOWN] == seen[UNKNOWN]
    assert all(status == 401 for status, _, _ in seen[KNOWN][:5])


def test_attempts_during_a_delay_do_not_extend_it(api: TestClient, clock: FixedClock) -> None:
    for _ in range(6):
        login(api, UNKNOWN)
    clock.advance(1)
    login(api, UNKNOWN)  # 7th failure: 2 s
    for _ in range(30):
        assert_limited(login(api, UNKNOWN), "account_login_delay", 2)
    clock.advance(2)
    assert login(api, UNKNOWN).status_code == 401  # 8th failure: 4 s, not more
    assert_limited(login(api, UNKNOWN), "account_login_delay", 4)


def test_success_resets_and_there_is_no_permanent_lock(api: TestClient, clock: FixedClock) -> None:
    for _ in range(40):
        login(api, KNOWN)
        clock.advance(20)  # the longest delay here; waiting always lets the next attempt in
    assert login(api, KNOWN, PASSWORD).status_code == 200
    for _ in range(5):
        assert login(api, KNOWN).status_code == 401
    assert login(api, KNOWN).status_code == 401  # free failures again after the success


def test_email_variants_share_one_counter(api: TestClient) -> None:
    for email in ("Test@Example.com", " test@EXAMPLE.COM ", "TEST@example.com", KNOWN, "test@Example.COM"):
        assert login(api, email).status_code == 401
    assert login(api, "tEsT@eXaMpLe.CoM").status_code == 401
    assert_limited(login(api, KNOWN), "account_login_delay", 1)


def test_concurrent_guesses_pass_one_at_a_time(make_container: MakeContainer) -> None:
    """Past the free failures, 20 simultaneous guesses get one password check, not 20."""
    container = make_container()
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            container.login.start(UNKNOWN, "wrong password here")
    results = run_together(20, lambda _: container.login.start(UNKNOWN, "wrong password here"))
    assert sum(isinstance(r, InvalidCredentials) for r in results) == 1
    assert sum(isinstance(r, RateLimited) and r.limit == "account_login_delay" for r in results) == 19


def test_free_failures_are_bounded_under_concurrency(make_container: MakeContainer) -> None:
    container = make_container()
    results = run_together(20, lambda _: container.login.start(UNKNOWN, "wrong password here"))
    # Five free attempts plus the one that passes the first gate.
    assert sum(isinstance(r, InvalidCredentials) for r in results) == 6
    assert sum(isinstance(r, RateLimited) for r in results) == 14


def test_ip_login_rate(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(ip_login_per_minute=3)
    clock.advance(15)
    with TestClient(create_app(container)) as client:
        for i in range(3):
            assert login(client, f"user{i}@example.com").status_code == 401
        assert_limited(login(client, "user9@example.com"), "ip_login_rate", 45)
        clock.advance(45)
        assert login(client, "user9@example.com").status_code == 401


def test_ipv6_addresses_of_one_subnet_share_a_limit(make_container: MakeContainer) -> None:
    container = make_container(ip_login_per_minute=2)
    for i in range(2):
        ctx = RequestContext(ip=f"2001:db8:1:2::{i + 1:x}")
        with pytest.raises(InvalidCredentials):
            container.login.start(f"u{i}@example.com", "wrong password here", ctx)
    with pytest.raises(RateLimited) as refused:
        container.login.start(
            "u9@example.com", "wrong password here", RequestContext(ip="2001:db8:1:2:ffff::1")
        )
    assert refused.value.limit == "ip_login_rate"
    with pytest.raises(InvalidCredentials):  # another /64
        container.login.start("u9@example.com", "wrong password here", RequestContext(ip="2001:db8:1:3::1"))


STRANGER, OWNER = RequestContext(ip="203.0.113.7"), RequestContext(ip="198.51.100.20")


def test_a_strangers_failures_do_not_delay_the_owner_elsewhere(make_container: MakeContainer) -> None:
    container = make_container()
    with TestClient(create_app(container)) as client:
        register(client)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            container.login.start(KNOWN, "wrong password here", STRANGER)
    with pytest.raises(InvalidCredentials):
        container.login.start(KNOWN, "wrong password here", STRANGER)  # starts the stranger's delay
    with pytest.raises(RateLimited) as refused:
        container.login.start(KNOWN, PASSWORD, STRANGER)
    assert refused.value.limit == "account_login_delay"
    for _ in range(3):  # the owner, from another address, signs in at once every time
        assert not isinstance(container.login.start(KNOWN, PASSWORD, OWNER), RateLimited)


def test_past_the_account_cap_every_client_is_slowed(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    container = make_container(login_account_free_failures=8)
    for i in range(8):  # a distributed guess: each address stays under its own free failures
        with pytest.raises(InvalidCredentials):
            container.login.start(UNKNOWN, "wrong password here", RequestContext(ip=f"192.0.2.{i}"))
    with pytest.raises(InvalidCredentials):
        container.login.start(UNKNOWN, "wrong password here", RequestContext(ip="192.0.2.100"))
    with pytest.raises(RateLimited) as refused:
        container.login.start(UNKNOWN, "wrong password here", RequestContext(ip="192.0.2.101"))
    assert refused.value.limit == "account_login_cap" and refused.value.retry_after == 1
    clock.advance(1)
    with pytest.raises(InvalidCredentials):  # the refused client's own budget was given back
        container.login.start(UNKNOWN, "wrong password here", RequestContext(ip="192.0.2.101"))


def test_sign_ins_with_the_right_password_never_count_as_failures(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    """Each attempt takes a unit of the account-wide failures before the password is checked; the right
    password gives it back, so an owner who signs in often is never slowed by their own sign-ins."""
    container = make_container(login_account_free_failures=3)
    with TestClient(create_app(container)) as client:
        register(client)
    owner = RequestContext(ip="198.51.100.7")
    for _ in range(4):  # more sign-ins than the cap (each texts a code: the number's caps allow 5)
        assert not isinstance(container.login.start(KNOWN, PASSWORD, owner), RateLimited)
    for i in range(3):  # the account-wide budget is whole: three failures from anywhere are free
        with pytest.raises(InvalidCredentials):
            container.login.start(KNOWN, "wrong password here", RequestContext(ip=f"192.0.2.{i}"))
    with pytest.raises(InvalidCredentials):  # the first past the cap passes its gate, then it closes
        container.login.start(KNOWN, "wrong password here", RequestContext(ip="192.0.2.50"))
    with pytest.raises(RateLimited) as refused:
        container.login.start(KNOWN, "wrong password here", RequestContext(ip="192.0.2.51"))
    assert refused.value.limit == "account_login_cap"
