"""A running RS256 server after `TWOSTEP_JWT_ALGORITHM=ES256 twostep keys rotate --activation-delay 0`,
the documented first step of an algorithm change, before the server is restarted with the new setting.

Before, the server read the ES256 key and signed with it at once: every sign-in answered 200 with an
access token that the server's own /me (and its authorizer) refused with 401, and its JWKS published
the ES256 key next to discovery's `RS256`. Now it goes on signing with its RS256 key while that key's
tokens are accepted, publishes only RS256 keys, and then answers a sign-in 503 without storing a
session, instead of handing out tokens nobody accepts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, settings_for_tests, sign_in
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.secrets import rotate_keys


def rotate_to_es256(tmp_path: Path, clock: FixedClock) -> None:
    """What `TWOSTEP_JWT_ALGORITHM=ES256 twostep keys rotate --activation-delay 0` does."""
    rotate_keys(settings_for_tests(tmp_path, storage="sqlite", jwt_algorithm="ES256"), clock, timedelta(0))


def test_an_rs256_server_keeps_signing_tokens_it_accepts_after_a_rotation_to_es256(
    make_container: Callable[..., Container], tmp_path: Path, clock: FixedClock
) -> None:
    container = make_container(storage="sqlite")
    with TestClient(create_app(container)) as client:
        register(client)
        rotate_to_es256(tmp_path, clock)
        assert container.keys.refresh()

        pair = sign_in(client, container)
        me = client.get("/me", headers={"Authorization": f"Bearer {pair['accessToken']}"})
        assert me.status_code == 200, me.text
        jwks = client.get("/.well-known/jwks.json").json()["keys"]
        assert jwks and {key["alg"] for key in jwks} == {"RS256"}


def test_once_its_key_no_longer_verifies_a_sign_in_answers_503_and_stores_no_session(
    make_container: Callable[..., Container], tmp_path: Path, clock: FixedClock
) -> None:
    container = make_container(storage="sqlite")
    with TestClient(create_app(container)) as client:
        user = register(client)
        rotate_to_es256(tmp_path, clock)
        container.keys.refresh()
        clock.advance(container.settings.access_token_ttl_seconds + container.settings.jwt_leeway_seconds)

        started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
        otp_id = started.json()["otpId"]
        verified = client.post(f"/otp/{otp_id}/verify", json={"otp": latest_code(container)})
        assert verified.status_code == 503, verified.text
        assert "accessToken" not in verified.text
        assert container.storage.list_sessions(user["id"], clock.now()) == []
