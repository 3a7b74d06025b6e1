"""Where a team's own function behind twostep's HTTP API finds the signed-in user: the Lambda guide's lines
run on what API Gateway hands it. With the Lambda authorizer that is the authorizer's own answer (its
`context`, under `requestContext.authorizer.lambda` with payload format 2.0); in `jwt` mode the token's
claims (under `requestContext.authorizer.jwt.claims`). The guide named neither, and a tutorial's private
function reading `requestContext.authorizer.email` fails behind the HTTP API."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.aws.events import http_v2_authorizer_event, load
from tests.aws.test_authorizer_revocation import point_authorizer_at
from tests.conftest import PASSWORD, latest_code, register
from twostep.api.app import create_app
from twostep.aws import authorizer
from twostep.container import Container
from twostep.domain.clock import FixedClock

pytestmark = pytest.mark.aws
ROOT = Path(__file__).parents[2]


def guide_block(marker: str) -> str:
    guide = (ROOT / "docs/guides/migrate-lambda-2fa.md").read_text()
    block = re.search(rf"<!-- {re.escape(marker)}: .*?```python\n(.*?)```", guide, re.S)
    assert block is not None, f"the Lambda guide shows the lines for: {marker}"
    return textwrap.dedent(block.group(1))


def run_in_function(lines: str, event: dict[str, Any]) -> dict[str, Any]:
    scope: dict[str, Any] = {"event": event}
    exec(lines, scope)
    return scope


@pytest.fixture
def signed_in(
    make_container: Callable[..., Container],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: FixedClock,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """An access token of a signed-in user, its user, and the authorizer's environment for its keys."""
    clock.set(datetime.now(UTC))
    container = make_container(storage="sqlite")
    point_authorizer_at(container, tmp_path, monkeypatch)
    authorizer.reset()
    with TestClient(create_app(container)) as client:
        user = register(client)
        started = client.post("/login", json={"email": user["email"], "password": PASSWORD}).json()
        verified = client.post(f"/otp/{started['otpId']}/verify", json={"otp": latest_code(container)})
        yield verified.json()["accessToken"], user
    authorizer.reset()


def integration_event(authorizer_part: dict[str, Any]) -> dict[str, Any]:
    """The payload 2.0 event of a function behind the HTTP API, with what the authorizer step added."""
    event = load("http_api_v2")
    event["requestContext"]["authorizer"] = authorizer_part
    return event


def test_the_guide_s_lines_find_the_user_the_lambda_authorizer_passed(
    signed_in: tuple[str, dict[str, Any]],
) -> None:
    token, user = signed_in
    answer = authorizer.handler(http_v2_authorizer_event({"authorization": f"Bearer {token}"}), None)
    assert answer["isAuthorized"] is True
    event = integration_event({"lambda": answer["context"]})

    scope = run_in_function(guide_block("own function, Lambda authorizer"), event)

    assert (scope["email"], scope["user_id"]) == (user["email"], user["id"])
    with pytest.raises(KeyError):  # the tutorial's private function, unchanged, behind the HTTP API
        run_in_function('email = event["requestContext"]["authorizer"]["email"]', event)


def test_the_guide_s_lines_find_the_user_in_the_jwt_authorizer_s_claims(
    signed_in: tuple[str, dict[str, Any]],
) -> None:
    token, user = signed_in
    claims = jwt.decode(token, options={"verify_signature": False})
    event = integration_event({"jwt": {"claims": {name: str(value) for name, value in claims.items()}}})

    scope = run_in_function(guide_block("own function, JWT authorizer"), event)

    assert (scope["email"], scope["user_id"]) == (user["email"], user["id"])


def test_the_deploy_guide_does_not_say_the_jwt_mode_takes_only_bearer_tokens() -> None:
    """aws.md and the template said `AuthorizerMode=jwt` takes only `Bearer` tokens; AWS's JWT authorizer
    takes the token alone or prefixed with `Bearer` (its documentation's first step of a check)."""
    deploy = " ".join((ROOT / "docs/guides/aws.md").read_text().split())
    assert "only `Bearer` tokens" not in deploy
    assert "`Bearer <jwt>` or raw `<jwt>` (AWS's JWT authorizer" in deploy
    assert "Bearer only" not in (ROOT / "template.yaml").read_text()
