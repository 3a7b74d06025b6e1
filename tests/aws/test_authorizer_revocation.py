"""The Lambda authorizer refuses ended sessions within `TWOSTEP_AUTHORIZER_REVOCATION_TTL_SECONDS`.

Its handler runs in-process against the storage the API writes: SQLite (sessions ended through the
FastAPI app) and DynamoDB on moto (sessions ended through the API's Lambda handler). The authorizer's
clock is a fixed clock stepped past the TTL, so nothing here waits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.aws.conftest import AwsMode
from tests.aws.events import http_v2_authorizer_event, rest_event, token_event
from tests.aws.test_aws_mode import call, sign_in
from tests.conftest import PASSWORD, latest_code, register
from twostep.api.app import create_app
from twostep.aws import authorizer
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.tokens import TokenIssuer

pytestmark = pytest.mark.aws


def allowed(token: str) -> bool:
    """REST TOKEN and HTTP API answers agree; True for Allow."""
    v2 = authorizer.handler(http_v2_authorizer_event({"authorization": f"Bearer {token}"}), None)
    try:
        rest = authorizer.handler(token_event(f"Bearer {token}"), None)["policyDocument"]["Statement"][0]
    except Exception as exc:
        assert str(exc) == "Unauthorized"
        assert v2 == {"isAuthorized": False}
        return False
    assert rest["Effect"] == "Allow" and v2["isAuthorized"] is True
    return True


@pytest.fixture
def authorizer_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FixedClock]:
    clock = FixedClock(datetime.now(UTC))
    monkeypatch.setattr(authorizer, "clock", clock)
    authorizer.reset()
    yield clock
    authorizer.reset()


@pytest.fixture
def sqlite_api(
    make_container: Callable[..., Container],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: FixedClock,
    authorizer_clock: FixedClock,
) -> Iterator[tuple[TestClient, Container]]:
    """The API on SQLite, and the authorizer's environment pointing at the same file and keys.

    The API keeps its keys sealed in the database; the authorizer (on AWS: the secret) reads a key file
    here, holding the same key material.
    """
    clock.set(authorizer_clock.now())
    container = make_container(storage="sqlite")
    monkeypatch.chdir(tmp_path)
    point_authorizer_at(container, tmp_path, monkeypatch)
    with TestClient(create_app(container)) as client:
        yield client, container


def point_authorizer_at(container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The authorizer's environment on the API's SQLite file (in `tmp_path`) and a key file holding the
    API's key material."""
    (tmp_path / "authorizer-keys.json").write_text(container.keys.material.to_json())
    for name, value in {
        "TWOSTEP_STORAGE": "sqlite",
        "TWOSTEP_SQLITE_PATH": str(tmp_path / "twostep.db"),
        "TWOSTEP_JWT_KEY_FILE": str(tmp_path / "authorizer-keys.json"),
        "TWOSTEP_ISSUER": "http://testserver",
    }.items():
        monkeypatch.setenv(name, value)


def signed_in(client: TestClient, container: Container) -> dict[str, Any]:
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json()
    return dict(client.post(f"/otp/{started['otpId']}/verify", json={"otp": latest_code(container)}).json())


def test_sqlite_logout_reaches_the_authorizer_within_its_ttl(
    sqlite_api: tuple[TestClient, Container], authorizer_clock: FixedClock
) -> None:
    client, container = sqlite_api
    register(client)
    tokens, other = signed_in(client, container), signed_in(client, container)
    assert allowed(tokens["accessToken"])
    assert client.post("/logout", json={"refreshToken": tokens["refreshToken"]}).status_code == 204
    assert allowed(tokens["accessToken"])  # the authorizer's copy of the list is still within its TTL
    authorizer_clock.advance(29)
    assert allowed(tokens["accessToken"])
    authorizer_clock.advance(1)
    assert not allowed(tokens["accessToken"])
    assert allowed(other["accessToken"])  # only that session ended


def test_sqlite_ttl_zero_reads_the_list_on_every_call(
    sqlite_api: tuple[TestClient, Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOSTEP_AUTHORIZER_REVOCATION_TTL_SECONDS", "0")
    client, container = sqlite_api
    user = register(client)
    tokens = signed_in(client, container)
    assert allowed(tokens["accessToken"])
    container.account.lock(user["id"])
    assert not allowed(tokens["accessToken"])


def test_one_factor_tokens_are_denied_while_a_second_factor_is_required(
    sqlite_api: tuple[TestClient, Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, container = sqlite_api
    key = container.keys.current
    issuer = TokenIssuer(
        kid=key.kid,
        algorithm=key.algorithm,
        key=key.signing_material,
        issuer="http://testserver",
        audience="twostep-api",
        ttl_seconds=900,
        clock=container.clock,
    )
    one_factor = issuer.issue(user_id="u1", email="a@example.com", amr=("pwd",), sid="s1", auth_time=0)
    assert not allowed(one_factor)
    monkeypatch.setenv("TWOSTEP_REQUIRE_SECOND_FACTOR", "false")
    authorizer.reset()
    assert allowed(one_factor)


def test_an_unreadable_list_fails_closed(sqlite_api: tuple[TestClient, Container], tmp_path: Path) -> None:
    client, container = sqlite_api
    register(client)
    tokens = signed_in(client, container)
    (tmp_path / "twostep.db").rename(tmp_path / "moved.db")
    with pytest.raises(authorizer.AuthorizerUnavailable):
        authorizer.handler(token_event(f"Bearer {tokens['accessToken']}"), None)


def test_dynamodb_session_end_reaches_the_authorizer_within_its_ttl(
    aws_mode: AwsMode, authorizer_clock: FixedClock
) -> None:
    tokens = sign_in(aws_mode)["tokens"]
    assert allowed(tokens["accessToken"])
    status, listed = call(
        rest_event("GET", "/sessions", headers={"Authorization": f"Bearer {tokens['accessToken']}"})
    )
    assert status == 200 and listed["sessions"][0]["current"] is True
    status, _ = call(rest_event("POST", "/logout", {"refreshToken": tokens["refreshToken"]}))
    assert status == 204
    status, refused = call(
        rest_event("GET", "/hello", headers={"Authorization": f"Bearer {tokens['accessToken']}"})
    )
    assert (status, refused["code"]) == (401, "session_revoked")  # the API itself: at once
    assert allowed(tokens["accessToken"])
    authorizer_clock.advance(30)
    assert not allowed(tokens["accessToken"])
