"""The authorizer's settings, read straight from the environment with the same names, defaults and
bounds as `twostep.settings.Settings` (a test keeps the two in step).

Why not `Settings()`: importing pydantic-settings alone took most of the authorizer's cold start.
Named tuples rather than dataclasses for the same reason: `dataclasses` imports `inspect`. The two paths
are kept as text and become `Path`s when read: importing `pathlib` is ~4 ms of a cold start, and an
authorizer that reads its keys from a secret and its revocation list from DynamoDB reads neither.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from twostep.domain.cold_start_typing import TYPE_CHECKING, NamedTuple
from twostep.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

ALGORITHMS = ("RS256", "ES256", "EdDSA", "HS256")
STORAGES = ("memory", "sqlite", "dynamodb")
RSA_BITS = (2048, 3072, 4096)


class PlainSecret(NamedTuple):
    value: str

    def get_secret_value(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return "PlainSecret('**********')"


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(f"TWOSTEP_{name}")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"TWOSTEP_{name}: Input should be a valid integer") from exc
    if not low <= value <= high:
        raise ConfigurationError(f"TWOSTEP_{name}: Input should be between {low} and {high}")
    return value


def _choice(environ: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = environ.get(f"TWOSTEP_{name}", default)
    if value not in allowed:
        raise ConfigurationError(f"TWOSTEP_{name}: Input should be one of {', '.join(allowed)}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """pydantic's spellings of a boolean."""
    raw = environ.get(f"TWOSTEP_{name}")
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on", "t", "y"):
        return True
    if value in ("0", "false", "no", "off", "f", "n"):
        return False
    raise ConfigurationError(f"TWOSTEP_{name}: Input should be a valid boolean")


def _secret(environ: Mapping[str, str], name: str) -> PlainSecret | None:
    value = environ.get(f"TWOSTEP_{name}")
    return PlainSecret(value) if value else None


class AuthorizerSettings(NamedTuple):
    jwt_algorithm: str = "RS256"
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "twostep-api"
    jwt_leeway_seconds: int = 30
    access_token_ttl_seconds: int = 900
    secret_arn: str | None = None
    jwt_key_file_name: str = "./twostep-keys.json"
    jwt_rsa_bits: int = 2048
    jwt_hs256_secret: PlainSecret | None = None
    otp_hmac_key: PlainSecret | None = None
    require_second_factor: bool = True
    authorizer_revocation_ttl_seconds: int = 30
    storage: str = "sqlite"
    sqlite_path_name: str = "./twostep.db"
    dynamodb_table: str = "twostep"

    @property
    def jwt_key_file(self) -> Path:
        from pathlib import Path

        return Path(self.jwt_key_file_name)

    @property
    def sqlite_path(self) -> Path:
        from pathlib import Path

        return Path(self.sqlite_path_name)

    @property
    def revocation_window_seconds(self) -> int:
        """How long an ended session can still have unexpired access tokens (as the API computes it)."""
        return self.access_token_ttl_seconds + self.jwt_leeway_seconds + 60

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> AuthorizerSettings:
        """Raises: ConfigurationError naming the variable that is out of range."""
        env = os.environ if environ is None else environ
        base = cls()
        hs256 = _secret(env, "JWT_HS256_SECRET")
        if hs256 is not None and len(hs256.value.encode()) < 32:
            raise ConfigurationError("TWOSTEP_JWT_HS256_SECRET must be at least 32 bytes")
        leeway = _int(env, "JWT_LEEWAY_SECONDS", base.jwt_leeway_seconds, 0, 300)
        ttl = _int(env, "ACCESS_TOKEN_TTL_SECONDS", base.access_token_ttl_seconds, 60, 3600)
        audience = env.get("TWOSTEP_AUDIENCE", base.audience)
        if not audience.strip():  # as the API's settings: no token would ever match it
            raise ConfigurationError("TWOSTEP_AUDIENCE: name the API the tokens are for, like twostep-api")
        return cls(
            jwt_algorithm=_choice(env, "JWT_ALGORITHM", base.jwt_algorithm, ALGORITHMS),
            issuer=env.get("TWOSTEP_ISSUER", base.issuer),
            audience=audience,
            jwt_leeway_seconds=leeway,
            access_token_ttl_seconds=ttl,
            secret_arn=env.get("TWOSTEP_SECRET_ARN") or None,
            jwt_key_file_name=env.get("TWOSTEP_JWT_KEY_FILE", base.jwt_key_file_name),
            jwt_rsa_bits=int(_choice(env, "JWT_RSA_BITS", str(base.jwt_rsa_bits), tuple(map(str, RSA_BITS)))),
            jwt_hs256_secret=hs256,
            otp_hmac_key=_secret(env, "OTP_HMAC_KEY"),
            require_second_factor=_bool(env, "REQUIRE_SECOND_FACTOR", base.require_second_factor),
            authorizer_revocation_ttl_seconds=_int(
                env, "AUTHORIZER_REVOCATION_TTL_SECONDS", base.authorizer_revocation_ttl_seconds, 0, 300
            ),
            storage=_choice(env, "STORAGE", base.storage, STORAGES),
            sqlite_path_name=env.get("TWOSTEP_SQLITE_PATH", base.sqlite_path_name),
            dynamodb_table=env.get("TWOSTEP_DYNAMODB_TABLE", base.dynamodb_table),
        )
