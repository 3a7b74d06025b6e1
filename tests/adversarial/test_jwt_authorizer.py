"""The token attack catalogue against the API Gateway Lambda authorizer (`twostep.aws.authorizer.handler`).

Each attack is sent in the three event shapes API Gateway uses: REST `TOKEN`, REST `REQUEST`, and HTTP API
v2 `REQUEST` (simple responses). Each must be denied: a Deny policy, `isAuthorized: false`, or the
`Unauthorized` exception that API Gateway turns into 401. The real token must be allowed in all three.

The authorizer is configured the way Lambda configures it, through `TWOSTEP_*` environment variables (here
the dev key file of the service that issued the tokens); the module is reloaded per algorithm so nothing
cached from an earlier configuration survives.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.adversarial.jwt_catalogue import ALGORITHMS, cases, catalogue, valid_with_remote_key_headers
from tests.adversarial.jwt_fixtures import RecordingServer, Service, recording_server, services
from twostep.aws import authorizer as authorizer_module
from twostep.domain.rs256_verifier import Rs256TokenVerifier

__all__ = ["recording_server", "services"]  # fixtures used by name below

ATTACKS = catalogue()
METHOD_ARN = "arn:aws:execute-api:eu-central-1:123456789012:abcdef1234/dev/GET/hello"
CONTEXT = SimpleNamespace(aws_request_id="test-request", function_name="twostep-authorizer")
Handler = Callable[[dict[str, Any], Any], Any]


def rest_token_event(authorization: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": authorization, "methodArn": METHOD_ARN}


def rest_request_event(authorization: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/hello",
        "path": "/hello",
        "httpMethod": "GET",
        "headers": {"Authorization": authorization},
        "multiValueHeaders": {"Authorization": [authorization]},
        "requestContext": {"stage": "dev", "httpMethod": "GET", "resourcePath": "/hello"},
    }


def http_api_event(authorization: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": METHOD_ARN,
        "identitySource": [authorization],
        "routeKey": "GET /hello",
        "rawPath": "/hello",
        "headers": {"authorization": authorization},
        "requestContext": {"http": {"method": "GET", "path": "/hello"}, "stage": "dev"},
    }


EVENTS = {"rest-token": rest_token_event, "rest-request": rest_request_event, "http-api": http_api_event}


def allowed(handler: Handler, event: dict[str, Any]) -> bool:
    """True for Allow; False for any of the three ways an authorizer says no."""
    try:
        result = handler(event, CONTEXT)
    except Exception as exc:
        assert str(exc) == "Unauthorized", f"only Exception('Unauthorized') becomes a 401; got {exc!r}"
        return False
    if "isAuthorized" in result:
        return result["isAuthorized"] is True
    statements = result["policyDocument"]["Statement"]
    return bool(statements) and all(statement["Effect"] == "Allow" for statement in statements)


class AuthorizerPerAlgorithm:
    """Reconfigures (env + module reload) only when the algorithm changes, so the battery stays fast."""

    def __init__(self, services: dict[str, Service]) -> None:
        self._services = services
        self._monkeypatch = pytest.MonkeyPatch()
        self._algorithm: str | None = None
        self._module: ModuleType = authorizer_module

    def handler(self, algorithm: str) -> Handler:
        if algorithm != self._algorithm:
            self._monkeypatch.undo()
            for name, value in self._services[algorithm].settings_env.items():
                self._monkeypatch.setenv(name, value)
            self._module = importlib.reload(authorizer_module)
            reset = getattr(self._module, "reset", None)
            if callable(reset):  # in case the verifier is cached outside the module
                reset()
            self._algorithm = algorithm
        handler: Handler = self._module.handler
        return handler

    @property
    def module(self) -> ModuleType:
        return self._module

    def close(self) -> None:
        self._monkeypatch.undo()
        importlib.reload(authorizer_module)


@pytest.fixture(scope="module")
def authorizer(services: dict[str, Service]) -> Iterator[AuthorizerPerAlgorithm]:
    per_algorithm = AuthorizerPerAlgorithm(services)
    yield per_algorithm
    per_algorithm.close()


@pytest.mark.parametrize("event_kind", sorted(EVENTS))
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_real_token_is_allowed(
    authorizer: AuthorizerPerAlgorithm, services: dict[str, Service], algorithm: str, event_kind: str
) -> None:
    token = services[algorithm].target.access_token
    assert allowed(authorizer.handler(algorithm), EVENTS[event_kind](f"Bearer {token}"))


@pytest.mark.parametrize(("algorithm", "attack"), sorted(cases()))
def test_attack_is_denied_in_every_event_shape(
    authorizer: AuthorizerPerAlgorithm,
    services: dict[str, Service],
    recording_server: RecordingServer,
    algorithm: str,
    attack: str,
) -> None:
    target = services[algorithm].target
    handler = authorizer.handler(algorithm)
    authorization = ATTACKS[attack][0](target)
    fetched_before = len(recording_server.requests)
    for kind, make_event in EVENTS.items():
        assert not allowed(handler, make_event(authorization)), f"{kind} event allowed"
    assert len(recording_server.requests) == fetched_before, "the authorizer fetched a key from a URL"
    assert allowed(handler, rest_token_event(f"Bearer {target.access_token}"))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_remote_key_headers_are_never_fetched(
    authorizer: AuthorizerPerAlgorithm,
    services: dict[str, Service],
    recording_server: RecordingServer,
    algorithm: str,
) -> None:
    handler = authorizer.handler(algorithm)
    fetched_before = len(recording_server.requests)
    for make_event in EVENTS.values():
        allowed(handler, make_event(valid_with_remote_key_headers(services[algorithm].target)))
    assert len(recording_server.requests) == fetched_before


@pytest.mark.parametrize("event_kind", sorted(EVENTS))
def test_missing_authorization_is_denied(authorizer: AuthorizerPerAlgorithm, event_kind: str) -> None:
    handler = authorizer.handler("RS256")
    event = EVENTS[event_kind]("")
    event.pop("authorizationToken", None)
    event.pop("identitySource", None)
    event.get("headers", {}).clear()
    event.get("multiValueHeaders", {}).clear()
    assert not allowed(handler, event)


def test_rs256_catalogue_runs_against_the_pyjwt_free_verifier(authorizer: AuthorizerPerAlgorithm) -> None:
    """The authorizer checks RS256 without PyJWT (`domain/rs256_verifier.py`): the battery above tests it."""
    authorizer.handler("RS256")
    assert isinstance(authorizer.module.get_verifier(), Rs256TokenVerifier)
    authorizer.handler("ES256")
    assert not isinstance(authorizer.module.get_verifier(), Rs256TokenVerifier)
