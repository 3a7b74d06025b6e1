"""An account without a phone number, after `TWOSTEP_REQUIRE_SECOND_FACTOR` was turned on: its
authenticator app or passkeys are its only second factor, so the last of them cannot be removed.

Before, it could: the removal answered 204, and every later sign-in with the password answered 403
`second_factor_required`. The owner was locked out for good (a password reset does not add a factor, and
a number can only be added by someone signed in)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, register
from tests.factors.soft_authenticator import SoftAuthenticator
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.totp import code_at, time_step

ORIGIN = "http://testserver"
# The password-only sign-up (seed 001's) asks for 15 characters: the password may be the only factor.
LONG_PASSWORD = f"{PASSWORD} and more"
LONG_REAUTH = {"currentPassword": LONG_PASSWORD}


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['accessToken']}"}


@dataclass
class Account:
    client: TestClient  # the API with a second factor required
    secret: str  # its authenticator app's


@pytest.fixture
def required(make_container: Callable[..., Container], clock: FixedClock) -> Iterator[Account]:
    """The API with a second factor required, over an account made while it was not, with no phone and an
    authenticator app."""
    before = make_container(storage="sqlite", require_second_factor=False)
    with TestClient(create_app(before)) as client:
        register(client, phone=None, password=LONG_PASSWORD)
        signed = client.post("/login", json={"email": "test@example.com", "password": LONG_PASSWORD})
        pair = signed.json()
        start = {"currentPassword": LONG_PASSWORD}
        secret = client.post("/me/factors/totp", json=start, headers=bearer(pair)).json()["secret"]
        code = code_at(secret, time_step(clock.now()))
        confirmed = client.post("/me/factors/totp/confirm", json={"code": code}, headers=bearer(pair))
        assert confirmed.status_code == 200, confirmed.text
    after = make_container(storage="sqlite", require_second_factor=True)
    with TestClient(create_app(after)) as client:
        yield Account(client, secret)


def sign_in_with_the_app(account: Account, clock: FixedClock) -> dict[str, Any]:
    client = account.client
    started = client.post("/login", json={"email": "test@example.com", "password": LONG_PASSWORD})
    assert started.status_code == 200, started.text
    assert started.json()["expectedFactor"] == "totp"
    clock.advance(30)  # a step not used before
    code = code_at(account.secret, time_step(clock.now()))
    verified = client.post(f"/otp/{started.json()['otpId']}/verify", json={"otp": code})
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


def add_passkey(client: TestClient, pair: dict[str, Any]) -> str:
    options = client.post("/me/passkeys/options", json=LONG_REAUTH, headers=bearer(pair)).json()
    credential = SoftAuthenticator(ORIGIN).create(options["publicKey"])
    added = client.post(
        "/me/passkeys",
        json={"ceremonyId": options["ceremonyId"], "credential": credential},
        headers=bearer(pair),
    )
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


def test_the_only_authenticator_app_stays(required: Account, clock: FixedClock) -> None:
    client = required.client
    pair = sign_in_with_the_app(required, clock)
    off = client.post("/me/factors/totp/disable", json=LONG_REAUTH, headers=bearer(pair))
    assert (off.status_code, off.json()["code"]) == (409, "last_second_factor"), off.text
    assert client.get("/me/factors", headers=bearer(pair)).json()["totp"] is True
    assert sign_in_with_the_app(required, clock)["amr"] == ["pwd", "otp"]


def test_the_last_of_two_factors_stays(required: Account, clock: FixedClock) -> None:
    client = required.client
    pair = sign_in_with_the_app(required, clock)
    passkey = add_passkey(client, pair)
    off = client.post("/me/factors/totp/disable", json=LONG_REAUTH, headers=bearer(pair))
    assert off.status_code == 204, "the passkey is a second factor left"
    removed = client.post(f"/me/passkeys/{passkey}/remove", json=LONG_REAUTH, headers=bearer(pair))
    assert (removed.status_code, removed.json()["code"]) == (409, "last_second_factor"), removed.text
    assert [p["id"] for p in client.get("/me/passkeys", headers=bearer(pair)).json()] == [passkey]
    started = client.post("/login", json={"email": "test@example.com", "password": LONG_PASSWORD})
    assert started.status_code == 200 and started.json()["expectedFactor"] == "passkey", started.text
