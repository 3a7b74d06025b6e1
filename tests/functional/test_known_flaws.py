"""One regression test per flaw of the replaced systems that the accounts API covers (SPEC: "What they got wrong")."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, register, sign_in
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock


def test_codes_are_not_predictable_from_the_clock(make_container: Callable[..., Container]) -> None:
    """The Spring 2FA client seeded Random with the clock: two services at the same instant must not agree."""
    codes = []
    for _ in range(2):
        container = make_container()
        with TestClient(create_app(container)) as client:
            register(client)
            for _ in range(3):
                client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
                codes.append(latest_code(container))
    assert len(set(codes)) >= 5  # 6 codes of 10^6: a repeat is a 1.5e-5 event


def test_guesses_are_limited(client: TestClient, container: Container) -> None:
    """The Spring 2FA client and the sipgate.io tutorial allowed unlimited guesses."""
    register(client)
    otp_id = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json()["otpId"]
    code = latest_code(container)
    wrong = "000000" if code != "000000" else "111111"
    remaining = [
        client.post(f"/otp/{otp_id}/verify", json={"otp": wrong}).json()["attemptsRemaining"]
        for _ in range(5)
    ]
    assert remaining == [4, 3, 2, 1, 0]
    final = client.post(f"/otp/{otp_id}/verify", json={"otp": code})
    assert final.status_code == 410 and final.json()["code"] == "code_attempts_exhausted"


def test_passwords_are_hashed_with_argon2id(client: TestClient, container: Container) -> None:
    """The Lambda JWT tutorial encrypted passwords (reversible); twostep stores an Argon2id hash with OWASP parameters."""
    register(client)
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None
    assert user.password_hash.startswith(
        "$nfkc$argon2id$v=19$m=19456,t=2,p=1$"
    )  # marked: of the NFKC spelling
    assert PASSWORD not in user.password_hash


def test_tokens_expire(client: TestClient, container: Container, clock: FixedClock) -> None:
    """The Spring 2FA client, the Lambda JWT tutorial and the message board issued tokens that never expired."""
    register(client)
    access = sign_in(client, container)["accessToken"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900
    assert claims["amr"] == ["pwd", "sms"]
    auth = {"Authorization": f"Bearer {access}"}
    assert client.get("/hello", headers=auth).status_code == 200
    clock.advance(900 + 31)  # past expiry and the 30 s leeway
    assert client.get("/hello", headers=auth).status_code == 401


@pytest.mark.parametrize("email", ["test@example.com", "nobody@example.com"])
def test_login_does_not_reveal_who_exists(client: TestClient, email: str) -> None:
    """The Spring 2FA client, the Lambda JWT tutorial and the sipgate.io tutorial answered differently for unknown users."""
    register(client)
    response = client.post("/login", json={"email": email, "password": "wrong password here"})
    body = response.json()
    body.pop("requestId")
    assert response.status_code == 401
    assert body == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "code": "invalid_credentials",
        "detail": "The email or password is wrong.",
    }


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/register", b"{not json"),
        ("/register", b'{"email": 5, "password": []}'),
        ("/register", b"[]"),
        ("/login", b'{"email": "a@example.com"}'),
        ("/login", b'{"email": "a@example.com", "password": "x", "role": "admin"}'),
        ("/otp/abc/verify", b'{"otp": {"x": 1}}'),
        ("/otp/abc/verify", b'{"otp": "12ab"}'),
        ("/otp/abc/verify", b'{"otp": -5}'),
        ("/otp/abc/verify", b'{"otp": true}'),
        ("/otp/not a valid id!/verify", b'{"otp": "123456"}'),
        ("/token/refresh", b'{"refreshToken": 12}'),
        ("/messages", b'{"content": ""}'),
    ],
)
def test_bad_input_gets_a_4xx_problem_not_a_500(client: TestClient, path: str, payload: bytes) -> None:
    """The Spring 2FA client, the Lambda JWT tutorial and Flowroute's sms-verification answered 500 to malformed input."""
    response = client.post(path, content=payload, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"]


def test_no_secrets_in_logs(
    client: TestClient, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    """The message board and the sipgate.io tutorial logged secrets; nothing secret reaches twostep's logs."""
    caplog.set_level(logging.DEBUG)
    register(client)
    pair = sign_in(client, container)
    client.post("/token/refresh", json={"refreshToken": pair["refreshToken"]})
    client.post("/login", json={"email": "test@example.com", "password": "a wrong password"})
    code = latest_code(container)
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in (
        PASSWORD,
        "a wrong password",
        code,
        pair["accessToken"],
        pair["refreshToken"],
        PHONE,
        PHONE[1:],
    ):
        assert secret not in text
    assert re.search(r"\+90\*+55", text)  # masked numbers are fine
