"""The few settings that checking tokens needs, as a Protocol.

`Settings` satisfies it, and so does the authorizer's own `AuthorizerSettings`, which reads these
variables without pydantic: importing pydantic-settings costs a cold start more than everything else
the authorizer does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class SecretValue(Protocol):
    def get_secret_value(self) -> str: ...


class TokenSettings(Protocol):
    @property
    def jwt_algorithm(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def jwt_leeway_seconds(self) -> int: ...
    @property
    def access_token_ttl_seconds(self) -> int: ...
    @property
    def secret_arn(self) -> str | None: ...
    @property
    def jwt_key_file(self) -> Path: ...
    @property
    def jwt_rsa_bits(self) -> int: ...
    @property
    def jwt_hs256_secret(self) -> SecretValue | None: ...
    @property
    def otp_hmac_key(self) -> SecretValue | None: ...
