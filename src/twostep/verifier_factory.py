"""Builds the access-token verifier from settings and keys; imports nothing heavier than PyJWT.

The container and the API Gateway authorizer both use it, so the authorizer's cold start loads no web
framework, password hasher or storage driver.
"""

from __future__ import annotations

from datetime import timedelta

from twostep.domain.clock import Clock
from twostep.domain.keys import KeyMaterial
from twostep.domain.tokens import TokenVerifier
from twostep.token_settings import TokenSettings


def build_verifier(settings: TokenSettings, keys: KeyMaterial, clock: Clock) -> TokenVerifier:
    """The access-token verifier; also what the authorizer builds, with nothing else."""
    max_age = timedelta(seconds=settings.access_token_ttl_seconds + settings.jwt_leeway_seconds)
    published = keys.verification_keys(clock.now(), max_age)
    return TokenVerifier(
        algorithm=settings.jwt_algorithm,
        keys={
            kid: key.verification_material
            for kid, key in published.items()
            if key.algorithm == settings.jwt_algorithm
        },
        issuer=settings.issuer,
        audience=settings.audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        clock=clock,
        key_ends=keys.verification_ends(max_age),
    )
