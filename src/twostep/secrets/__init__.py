"""Where key material comes from: a local key file in dev, Secrets Manager on AWS (`TWOSTEP_SECRET_ARN`).

Loaded once per process by the container (once per Lambda container), never per request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from twostep.domain.clock import Clock
from twostep.domain.keys import KeyMaterial, hs256_key_from_secret
from twostep.secrets.local import LocalKeyFile
from twostep.settings import Settings


def load_key_material(settings: Settings, clock: Clock, *, boto_session: Any = None) -> KeyMaterial:
    """The key material with settings-level overrides (HS256 secret, code HMAC key) applied.

    Raises:
        SecretStoreUnavailable: the secret store could not be read.
    """
    if settings.secret_arn:
        from twostep.secrets.aws import SecretsManagerKeys

        material = SecretsManagerKeys.from_settings(settings, boto_session=boto_session).load(clock)
    else:
        material = LocalKeyFile(settings.jwt_key_file, settings.jwt_algorithm, settings.jwt_rsa_bits).load(
            clock
        )
    return _with_overrides(material, settings, clock)


def _with_overrides(material: KeyMaterial, settings: Settings, clock: Clock) -> KeyMaterial:
    if settings.jwt_algorithm == "HS256" and settings.jwt_hs256_secret is not None:
        key = hs256_key_from_secret(settings.jwt_hs256_secret.get_secret_value().encode(), clock.now())
        material = replace(material, signing_keys=(key,))
    if settings.otp_hmac_key is not None:
        material = replace(material, otp_hmac_key=settings.otp_hmac_key.get_secret_value().encode())
    return material
