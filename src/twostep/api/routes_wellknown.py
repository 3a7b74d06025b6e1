"""Public keys and OpenID discovery (for API Gateway's built-in JWT authorizer); health is in routes_health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.deps import ContainerDep

router = APIRouter(tags=["keys"], route_class=DeferredRoute)


@router.get("/.well-known/jwks.json")
def jwks(container: ContainerDep) -> dict[str, list[dict[str, str]]]:
    """Every public key of the pinned algorithm whose tokens may still be alive, and a rotated key before
    it starts signing."""
    keys = container.keys.published().values()
    return {"keys": [jwk for key in keys if (jwk := key.public_jwk()) is not None]}


@router.get("/.well-known/openid-configuration")
def openid_configuration(container: ContainerDep) -> dict[str, Any]:
    settings = container.settings
    issuer = settings.issuer.rstrip("/")
    return {
        "issuer": settings.issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": [settings.jwt_algorithm],
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "sub", "email", "iat", "exp", "jti", "amr"],
    }
