"""The replaced systems' flows end to end through the HTTP API (in-process)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, register, settings_for_tests, sign_in
from tests.live import ServerProcess
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.storage.memory import MemoryStorage


def test_spring_client_flow_code_as_string_and_as_number(client: TestClient, container: Container) -> None:
    user = register(client)
    assert user["phoneNumber"] == "+90********55" and "password" not in user
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json()
    assert started["redirectPath"] == f"/otp/{started['otpId']}/verify"
    assert started["destination"] == "+90********55"
    code = latest_code(container)
    pair = client.post(started["redirectPath"], json={"otp": code}).json()
    assert pair["tokenType"] == "Bearer" and pair["expiresIn"] == 900

    assert client.get("/hello", headers={"Authorization": f"Bearer {pair['accessToken']}"}).json() == {
        "message": "Hello, test@example.com!"
    }
    assert client.get("/hello", headers={"Authorization": pair["accessToken"]}).status_code == 200

    # The Spring 2FA client sends the code as a JSON number; leading zeros are restored by padding.
    second = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json()
    as_number = int(latest_code(container))
    response = client.post(f"/otp/{second['otpId']}/verify", json={"otp": as_number})
    assert response.status_code == 200, response.text


def test_number_code_with_leading_zero_is_padded(make_container: Callable[..., Container]) -> None:
    container = make_container(sms_per_number_10min=200, sms_per_number_day=200, ip_login_per_minute=200)
    with TestClient(create_app(container)) as client:
        register(client)
        for _ in range(80):  # until a code starting with 0 comes up (each draw: 1 in 10; all miss: 0.02 %)
            answer = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            started = answer.json()
            code = latest_code(container)
            if code.startswith("0"):
                response = client.post(f"/otp/{started['otpId']}/verify", json={"otp": int(code)})
                assert response.status_code == 200, response.text
                return
    raise AssertionError("no code with a leading zero in 80 draws")


def test_lambda_jwt_tutorial_flow_without_second_factor(make_container: Callable[..., Container]) -> None:
    """The tutorial's `/signin` answered `{"token": ...}` and its clients send that key's value raw in
    `authorization`; twostep's `/signin` answered only `accessToken`, so such a client failed at the
    first sign-in though the guide promises the tutorial's JSON. `/signin` now gives `token` too (the
    same access token); `/login` keeps its own shape."""
    container = make_container(require_second_factor=False)
    with TestClient(create_app(container)) as client:
        response = client.post("/signup", json={"email": "Tutorial@Example.COM", "password": PASSWORD})
        assert response.status_code == 201, response.text
        assert response.json()["email"] == "tutorial@example.com"
        credentials = {"email": "tutorial@example.com", "password": PASSWORD}
        pair = client.post("/signin", json=credentials).json()
        assert set(pair) == {"token", "accessToken", "tokenType", "expiresIn", "refreshToken"}
        assert pair["token"] == pair["accessToken"]
        hello = client.get("/hello", headers={"authorization": pair["token"]})  # lower-case, raw token
        assert hello.json() == {"message": "Hello, tutorial@example.com!"}
        replayed = {"Idempotency-Key": "signin-once-0001"}
        first = client.post("/signin", json=credentials, headers=replayed)
        assert first.json()["token"] == first.json()["accessToken"]
        again = client.post("/signin", json=credentials, headers=replayed)
        assert again.status_code == 200 and again.json()["token"] == again.json()["accessToken"]
        login = client.post("/login", json=credentials).json()
        assert set(login) == {"accessToken", "tokenType", "expiresIn", "refreshToken"}


def test_phone_required_when_second_factor_on(client: TestClient) -> None:
    response = client.post(
        "/register", json={"firstName": "A", "lastName": "B", "email": "x@example.com", "password": PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "phoneNumber"


def test_me_returns_the_user(client: TestClient, container: Container) -> None:
    user = register(client)
    pair = sign_in(client, container)
    me = client.get("/me", headers={"Authorization": f"Bearer {pair['accessToken']}"}).json()
    assert me["id"] == user["id"] and me["phoneNumber"] == "+90********55"


def test_refresh_rotation_and_reuse_revokes_family(client: TestClient, container: Container) -> None:
    register(client)
    first = sign_in(client, container)
    second = client.post("/token/refresh", json={"refreshToken": first["refreshToken"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refreshToken"] != first["refreshToken"]
    reuse = client.post("/token/refresh", json={"refreshToken": first["refreshToken"]})
    assert reuse.status_code == 401 and reuse.json()["code"] == "refresh_token_reused"
    # The reuse ended the whole family: the newest token is dead too.
    assert client.post("/token/refresh", json={"refreshToken": rotated["refreshToken"]}).status_code == 401


def test_logout_revokes_the_session(client: TestClient, container: Container) -> None:
    register(client)
    pair = sign_in(client, container)
    assert client.post("/logout", json={"refreshToken": pair["refreshToken"]}).status_code == 204
    assert client.post("/token/refresh", json={"refreshToken": pair["refreshToken"]}).status_code == 401


def test_message_board_order_and_limit(client: TestClient, container: Container) -> None:
    register(client)
    auth = {"Authorization": f"Bearer {sign_in(client, container)['accessToken']}"}
    for i in range(25):
        container.clock.advance(1)  # type: ignore[attr-defined]
        assert client.post("/messages", json={"content": f"post {i}"}, headers=auth).status_code == 201
    page = client.get("/messages").json()
    assert [m["content"] for m in page["messages"]][:3] == ["post 24", "post 23", "post 22"]
    assert len(page["messages"]) == 20 and page["messages"][0]["author"] == "Cem O."
    older = client.get("/messages", params={"cursor": page["nextCursor"]}).json()
    assert [m["content"] for m in older["messages"]] == [f"post {i}" for i in range(4, -1, -1)]
    assert len(client.get("/messages", params={"limit": 100}).json()["messages"]) == 25
    assert client.get("/messages", params={"limit": 101}).status_code == 422


def test_posting_needs_a_token(client: TestClient) -> None:
    response = client.post("/messages", json={"content": "hi"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_resend_replaces_code_and_keeps_budget(client: TestClient, container: Container) -> None:
    register(client)
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json()
    old = latest_code(container)
    wrong = "999999" if old != "999999" else "888888"
    assert (
        client.post(f"/otp/{started['otpId']}/verify", json={"otp": wrong}).json()["attemptsRemaining"] == 4
    )
    resent = client.post(f"/otp/{started['otpId']}/resend")
    assert resent.status_code == 202 and set(resent.json()) == {"expiresAt", "resendAfter"}
    new = latest_code(container)
    if new != old:
        refused = client.post(f"/otp/{started['otpId']}/verify", json={"otp": old})
        assert refused.json()["attemptsRemaining"] == 3  # the budget survived the resend
    assert client.post(f"/otp/{started['otpId']}/verify", json={"otp": new}).status_code == 200


def test_jwks_and_discovery(client: TestClient) -> None:
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert keys and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and "d" not in keys[0]
    config = client.get("/.well-known/openid-configuration").json()
    assert config["jwks_uri"].endswith("/.well-known/jwks.json")
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert client.get("/healthz").json() == {"status": "ok", "storage": "memory"}


def test_a_proven_phone_is_unique(client: TestClient, container: Container) -> None:
    register(client)
    sign_in(client, container)  # the first sign-in's code proves the number
    response = client.post(
        "/register",
        json={
            "firstName": "A",
            "lastName": "B",
            "email": "other@example.com",
            "password": PASSWORD,
            "phoneNumber": "+90 555 555 55 55",
        },
    )
    assert response.status_code == 409


def test_sms_text_and_webotp_line(make_container: Callable[..., Container]) -> None:
    container = make_container(web_origin="https://app.example.com:8443")
    with TestClient(create_app(container)) as client:
        register(client)
        # English asked for: the number (+90) alone would choose the Turkish text
        client.post("/login", json={"email": "test@example.com", "password": PASSWORD, "locale": "en"})
    body = container.storage.list_outbox(to=PHONE, last=1)[0].body
    code = body[:6]
    assert body == (
        f"{code} is your twostep sign-in code. It expires in 2 minutes. Don't share it."
        f"\n\n@app.example.com #{code}"
    )


def test_openapi_documents_bearer_auth_on_protected_routes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    protected = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if {"bearerAuth": []} in operation.get("security", [])
    }
    security_page = {  # the second-factor routes (routes_factors.py)
        ("/me/factors", "get"),
        ("/me/factors/totp", "post"),
        ("/me/factors/totp/confirm", "post"),
        ("/me/factors/totp/disable", "post"),
        ("/me/factors/recovery-codes", "get"),
        ("/me/factors/recovery-codes", "post"),
        ("/me/passkeys/options", "post"),
        ("/me/passkeys", "post"),
        ("/me/passkeys", "get"),
        ("/me/passkeys/{passkey_id}/remove", "post"),
        ("/me/devices", "get"),
        ("/me/devices/{device_id}/forget", "post"),
    }
    account = {
        "/me/password",
        "/me/phone",
        "/me/phone/verify",
        "/me/email",
        "/me/email/verify",
        "/me/email/verify/start",
    }
    sessions = {
        ("/me", "delete"),
        ("/sessions", "get"),
        ("/sessions", "delete"),
        ("/sessions/{session_id}", "delete"),
    }
    assert protected == {
        ("/hello", "get"),
        ("/me", "get"),
        ("/me/locale", "put"),
        ("/messages", "post"),
    } | sessions | security_page | {(p, "post") for p in account}


def test_the_lambda_guide_s_authorizer_line_accepts_a_twostep_hs256_token(tmp_path: Path) -> None:
    """With a shared HS256 secret, as the Lambda guide advises for the move, the tutorial's authorizer
    (`jwt.decode(token, JWT_SECRET, algorithms=["HS256"])`) denied every twostep token: PyJWT refuses a
    token with an `aud` when `decode` names none, and the guide did not say so. The guide now gives the
    decode line with the audience and issuer; it is run here, unchanged, on a token of `/signin`."""
    guide = (Path(__file__).parents[2] / "docs/guides/migrate-lambda-2fa.md").read_text()
    line = re.search(r"<!-- tutorial authorizer: .*?```python\n(.*?)```", guide, re.S)
    assert line is not None, "the guide shows the tutorial authorizer's decode line"
    secret = "s" * 40
    settings = settings_for_tests(
        tmp_path, require_second_factor=False, jwt_algorithm="HS256", jwt_hs256_secret=secret
    )
    # PyJWT checks `exp` against the wall clock, so the tokens are issued at the real time.
    container = build(settings, clock=FixedClock(datetime.now(UTC)), storage=MemoryStorage())
    with TestClient(create_app(container)) as client:
        client.post("/signup", json={"email": "tutorial@example.com", "password": PASSWORD})
        pair = client.post("/signin", json={"email": "tutorial@example.com", "password": PASSWORD}).json()
    container.close()
    with pytest.raises(jwt.InvalidAudienceError):  # the tutorial's line as it was
        jwt.decode(pair["accessToken"], secret, algorithms=["HS256"])
    scope: dict[str, Any] = {
        "jwt": jwt,
        "token": pair["accessToken"],
        "JWT_SECRET": secret,
        "TWOSTEP_ISSUER": settings.issuer,
    }
    exec(textwrap.dedent(line.group(1)), scope)
    assert scope["decoded_token"].get("email") == "tutorial@example.com"


@pytest.mark.parametrize("require_second_factor", [True, False])
def test_the_lambda_guide_s_re_registration_says_what_a_tutorial_password_gets(
    make_container: Callable[..., Container], require_second_factor: bool
) -> None:
    """The Lambda guide's "re-register on next sign-in" posts the user's old password to `/register`, and
    did not say that twostep's password policy refuses many tutorial-era ones, the tutorials' own examples
    included, so the step failed for those users untold. The guide now says so and what to do; the
    answer it names is the one a tutorial password gets."""
    guide = (Path(__file__).parents[2] / "docs/guides/migrate-lambda-2fa.md").read_text()
    container = make_container(require_second_factor=require_second_factor)
    with TestClient(create_app(container)) as client:
        for old_password in ("Test1234", "12345678"):
            assert f"`{old_password}`" in guide
            body = {"firstName": "Cem", "lastName": "Onan", "phoneNumber": PHONE}
            answer = client.post(
                "/register", json=body | {"email": "cem@example.com", "password": old_password}
            )
            assert (answer.status_code, answer.json()["code"]) == (400, "weak_password")
    assert "400 `weak_password`" in guide
    assert container.storage.find_user_by_email("cem@example.com") is None


def test_the_lambda_guide_s_rs256_authorizer_lines_accept_a_token_of_a_live_server(tmp_path: Path) -> None:
    """The Lambda guide's way to keep the tutorial's authorizer, a shared HS256 secret, cannot be taken with
    twostep's SAM template, which signs with RS256 (its keys in Secrets Manager), and the guide did not
    say so or how to check those tokens. It now gives the lines that check them with the JWKS; they are
    run here, unchanged, against a live server."""
    root = Path(__file__).parents[2]
    assert "TWOSTEP_JWT_ALGORITHM: RS256" in (root / "template.yaml").read_text()  # what the guide says
    guide = (root / "docs/guides/migrate-lambda-2fa.md").read_text()
    block = re.search(r"<!-- tutorial authorizer, RS256: .*?```python\n(.*?)```", guide, re.S)
    assert block is not None, "the guide shows how to check twostep's RS256 tokens"
    with ServerProcess(tmp_path, "api", TWOSTEP_REQUIRE_SECOND_FACTOR="false") as live:
        credentials = {"email": "tutorial@example.com", "password": PASSWORD}
        assert httpx.post(live.base_url + "/signup", json=credentials).status_code == 201
        token = httpx.post(live.base_url + "/signin", json=credentials).json()["accessToken"]
        scope: dict[str, Any] = {"jwt": jwt, "token": token, "TWOSTEP_ISSUER": live.env["TWOSTEP_ISSUER"]}
        exec(textwrap.dedent(block.group(1)), scope)
    assert scope["decoded_token"]["email"] == "tutorial@example.com"
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
