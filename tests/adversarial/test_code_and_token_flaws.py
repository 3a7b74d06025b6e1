"""The replaced systems' flaws about codes and tokens, attacked harder than the functional regressions do.

- Predictable codes (the Spring 2FA client seeded `Random` with the clock; Flowroute's sms-verification had an off-by-one): codes ignore
  `random`'s state and the clock, and two services on the same frozen clock send unrelated codes.
- Tokens that never expire (the Spring 2FA client, the Lambda JWT tutorial, the message board): `exp - iat` is exactly the configured lifetime, for
  every lifetime and algorithm, and the token dies at `exp` + leeway.
- `alg: none` and 500s for bad input are in `test_jwt_attacks.py` and `test_bad_input.py`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, sign_in
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.otp import generate_code


def test_codes_do_not_follow_the_random_module_or_the_clock() -> None:
    """Reseeding `random` with the same value (as the Spring 2FA client did with the time) must not repeat codes."""
    codes = []
    for _ in range(50):
        random.seed(1_700_000_000)
        codes.append(generate_code(6))
    assert len(set(codes)) >= 45  # 50 draws from 10^6: a repeat is rare, 6 repeats practically impossible


def test_two_services_on_the_same_clock_send_unrelated_codes(
    make_container: Callable[..., Container],
) -> None:
    """Same frozen instant, same user, same settings, separate processes' worth of state: 10 codes each."""
    per_service: list[list[str]] = []
    for _ in range(2):
        container = make_container(sms_per_number_10min=100, sms_per_number_day=100)
        codes = []
        with TestClient(create_app(container)) as client:
            register(client)
            for _ in range(10):
                started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
                assert started.status_code == 200, started.text
                codes.append(latest_code(container))
        per_service.append(codes)
    first, second = per_service
    assert sum(a == b for a, b in zip(first, second, strict=True)) <= 1
    assert len(set(first + second)) >= 18


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA", "HS256"])
@pytest.mark.parametrize("ttl", [60, 900, 3600])
def test_access_tokens_live_exactly_the_configured_lifetime(
    make_container: Callable[..., Container], clock: FixedClock, algorithm: str, ttl: int
) -> None:
    container = make_container(access_token_ttl_seconds=ttl, jwt_algorithm=algorithm)
    leeway = container.settings.jwt_leeway_seconds
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        claims = jwt.decode(pair["accessToken"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == ttl == pair["expiresIn"]
        auth = {"Authorization": f"Bearer {pair['accessToken']}"}
        clock.advance(ttl + leeway - 1)
        assert client.get("/hello", headers=auth).status_code == 200
        clock.advance(1)
        assert client.get("/hello", headers=auth).status_code == 401
