"""Token attacks against a protected route (`GET /hello`), for every signing algorithm the service offers.

Every attack must get 401 problem+json with `code: invalid_token`, and the real token must keep working
after it (checklist J16). The catalogue is in `jwt_catalogue.py`.
"""

from __future__ import annotations

import jwt
import pytest

from tests.adversarial.jwt_catalogue import (
    ALGORITHMS,
    cases,
    catalogue,
    claims_for,
    forge,
    valid_with_remote_key_headers,
)
from tests.adversarial.jwt_fixtures import RecordingServer, Service, recording_server, services

__all__ = ["recording_server", "services"]  # fixtures used by name below

ATTACKS = catalogue()


def _hello(service: Service, authorization: str) -> tuple[int, str, dict[str, str], dict[str, object]]:
    # Bytes, so a non-ASCII attack value reaches the server instead of failing in the client.
    response = service.client.get("/hello", headers={"Authorization": authorization.encode()})
    body = response.json() if response.content else {}
    return response.status_code, response.headers.get("content-type", ""), dict(response.headers), body


def assert_refused(service: Service, authorization: str) -> None:
    status, content_type, headers, body = _hello(service, authorization)
    assert status == 401, body
    assert content_type.startswith("application/problem+json")
    assert body["code"] == "invalid_token"
    assert headers.get("www-authenticate") == "Bearer"
    assert service.target.access_token not in str(body)


def assert_accepted(service: Service, authorization: str) -> dict[str, object]:
    status, _, _, body = _hello(service, authorization)
    assert status == 200, body
    return body


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_forged_control_token_is_accepted(services: dict[str, Service], algorithm: str) -> None:
    """The attacks change one thing of a token that, unchanged, the service accepts."""
    service = services[algorithm]
    body = assert_accepted(service, "Bearer " + forge(service.target))
    assert body == {"message": "Hello, victim@example.com!"}
    assert_accepted(service, "Bearer " + forge(service.target, nbf=claims_for(service.target)["iat"]))


@pytest.mark.parametrize(("algorithm", "attack"), cases())
def test_attack_is_refused_and_real_token_still_works(
    services: dict[str, Service], recording_server: RecordingServer, algorithm: str, attack: str
) -> None:
    service = services[algorithm]
    make, _ = ATTACKS[attack]
    fetched_before = len(recording_server.requests)
    assert_refused(service, make(service.target))
    assert len(recording_server.requests) == fetched_before, "the verifier fetched a key from a URL"
    assert_accepted(service, f"Bearer {service.target.access_token}")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_remote_key_headers_are_ignored_never_fetched(
    services: dict[str, Service], recording_server: RecordingServer, algorithm: str
) -> None:
    """`jku` and `x5u` on a genuinely signed token change nothing: no fetch, the real key decides."""
    service = services[algorithm]
    fetched_before = len(recording_server.requests)
    assert_accepted(service, valid_with_remote_key_headers(service.target))
    assert len(recording_server.requests) == fetched_before


def test_recording_server_records_fetches(recording_server: RecordingServer) -> None:
    """The no-fetch assertions above could only fail if a fetch would be seen: check that it would."""
    before = len(recording_server.requests)
    jwks = jwt.PyJWKClient(f"{recording_server.url}/jwks.json").get_jwk_set()
    assert jwks.keys and len(recording_server.requests) == before + 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tokens_carry_the_configured_lifetime_and_algorithm(
    services: dict[str, Service], algorithm: str
) -> None:
    """The Spring 2FA client, the Lambda JWT tutorial and the message board: tokens never expired. Here exp - iat is the configured TTL, and the header
    pins the algorithm, the key id and the access-token type."""
    target = services[algorithm].target
    header = jwt.get_unverified_header(target.access_token)
    claims = jwt.decode(target.access_token, options={"verify_signature": False})
    assert header == {"alg": algorithm, "typ": "at+jwt", "kid": target.key.kid}
    assert claims["exp"] - claims["iat"] == target.ttl
    assert set(claims) >= {"iss", "aud", "sub", "email", "iat", "exp", "jti", "amr"}


OTHER_PROTECTED = [("GET", "/me", None), ("POST", "/messages", {"content": "from an attacker"})]
SAMPLE_ATTACKS = [
    "alg-none-unsigned",
    "alg-nOnE-with-signature",
    "same-alg-attacker-key",
    "kid-path",
    "jwk-embedded-attacker-key",
    "expired",
    "iss-suffix",
    "aud-array-without-ours",
    "tampered-payload",
    "null-signature",
    "crit-unknown",
    "typ-missing",
    "refresh-token-as-access-token",
]


@pytest.mark.parametrize("algorithm", ["RS256", "HS256"])
@pytest.mark.parametrize(("method", "path", "body"), OTHER_PROTECTED)
def test_other_protected_routes_refuse_the_same_attacks(
    services: dict[str, Service], algorithm: str, method: str, path: str, body: dict[str, str] | None
) -> None:
    """The check is one dependency shared by every protected route; prove it on each of them."""
    service = services[algorithm]
    for attack in SAMPLE_ATTACKS:
        authorization = ATTACKS[attack][0](service.target)
        response = service.client.request(method, path, json=body, headers={"Authorization": authorization})
        assert response.status_code == 401, (attack, response.text)
        assert response.json()["code"] == "invalid_token"
    real = service.client.request(
        method, path, json=body, headers={"Authorization": f"Bearer {service.target.access_token}"}
    )
    assert real.status_code in (200, 201), real.text


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_access_tokens_and_otp_ids_are_not_refresh_tokens(
    services: dict[str, Service], algorithm: str
) -> None:
    """J8 the other way round: what is not a refresh token never rotates into a new pair."""
    target = services[algorithm].target
    for presented in (target.access_token, target.otp_id, forge(target), "rt_" + "A" * 43, ""):
        response = services[algorithm].client.post("/token/refresh", json={"refreshToken": presented})
        assert response.status_code in (401, 422), response.text  # 422: longer than any refresh token
        assert "accessToken" not in response.text


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_original_token_works_after_the_whole_battery(services: dict[str, Service], algorithm: str) -> None:
    """J16: persistence check, last in the module."""
    service = services[algorithm]
    assert assert_accepted(service, f"Bearer {service.target.access_token}") == {
        "message": "Hello, test@example.com!"
    }
