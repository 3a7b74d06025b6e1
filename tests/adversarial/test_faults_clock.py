"""The clock jumping (NTP steps, a skewed host): codes expire on time, tokens are refused before their
`iat` minus the leeway and after `exp` plus it, and refresh families end when they should."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, sign_in
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock

LEEWAY = 30


def start(client: TestClient) -> str:
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert started.status_code == 200, started.text
    return str(started.json()["otpId"])


def refresh_families(container: Container) -> int:
    return len({t.family_id for t in container.storage._refresh.values()})  # type: ignore[attr-defined]


def test_code_expires_when_the_clock_jumps_forward(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    register(client)
    otp_id = start(client)
    clock.advance(container.settings.otp_ttl_seconds)
    response = client.post(f"/otp/{otp_id}/verify", json={"otp": latest_code(container)})
    assert response.status_code == 410 and response.json()["code"] == "code_expired"
    assert refresh_families(container) == 0

    otp_id = start(client)
    clock.advance(container.settings.otp_ttl_seconds - 1)
    assert client.post(f"/otp/{otp_id}/verify", json={"otp": latest_code(container)}).status_code == 200


def test_tokens_minted_during_a_backward_jump_do_not_outlive_real_time(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    register(client)
    real_now = clock.now()
    clock.set(real_now - timedelta(hours=1))
    pair = sign_in(client, container)
    headers = {"Authorization": f"Bearer {pair['accessToken']}"}
    assert client.get("/hello", headers=headers).status_code == 200
    clock.set(real_now)  # the clock is corrected: the token's exp is an hour ago
    assert client.get("/hello", headers=headers).status_code == 401


def test_access_token_window_is_iat_minus_leeway_to_exp_plus_leeway(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    register(client)
    issued = clock.now()
    headers = {"Authorization": f"Bearer {sign_in(client, container)['accessToken']}"}
    ttl = container.settings.access_token_ttl_seconds
    assert container.settings.jwt_leeway_seconds == LEEWAY
    expectations = {
        -LEEWAY - 1: 401,  # the verifier's clock is behind by more than the leeway
        -LEEWAY: 200,
        ttl + LEEWAY - 1: 200,
        ttl + LEEWAY: 401,
        ttl + 3600: 401,
    }
    for offset, status in expectations.items():
        clock.set(issued + timedelta(seconds=offset))
        assert client.get("/hello", headers=headers).status_code == status, offset


def test_refresh_family_ends_at_its_deadline_however_often_it_rotates(
    make_container: Callable[..., Container], clock: FixedClock
) -> None:
    container = make_container(refresh_token_ttl_seconds=300)
    with TestClient(create_app(container)) as client:
        register(client)
        token = sign_in(client, container)["refreshToken"]
        for _ in range(5):
            clock.advance(59)
            rotated = client.post("/token/refresh", json={"refreshToken": token})
            assert rotated.status_code == 200, rotated.text
            token = rotated.json()["refreshToken"]
        clock.advance(6)  # 301 s after sign-in: the family is over, although `token` is 6 s old
        assert client.post("/token/refresh", json={"refreshToken": token}).status_code == 401
        assert refresh_families(container) == 1


def test_wrong_codes_are_counted_across_a_clock_jump(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    register(client)
    otp_id = start(client)
    right = latest_code(container)
    wrong = "0" * len(right) if right != "0" * len(right) else "1" * len(right)
    for _ in range(container.settings.otp_max_attempts - 1):
        assert client.post(f"/otp/{otp_id}/verify", json={"otp": wrong}).status_code == 401
        clock.advance(-600)  # backwards: must not reset the attempt budget
    assert client.post(f"/otp/{otp_id}/verify", json={"otp": wrong}).status_code == 401
    assert client.post(f"/otp/{otp_id}/verify", json={"otp": right}).status_code == 410
    assert refresh_families(container) == 0
