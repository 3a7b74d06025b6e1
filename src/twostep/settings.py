"""The one settings model: every `TWOSTEP_*` variable, validated once at start-up.

Nothing else in the package reads the environment. Entry points build `Settings()` and hand it to
`container.build`; a value out of range stops start-up with one line naming the variable
(see `describe_validation_error`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Stage = Literal["dev", "staging", "prod"]
StorageName = Literal["memory", "sqlite", "dynamodb"]
JwtAlgorithm = Literal["RS256", "ES256", "EdDSA", "HS256"]

KNOWN_SMS_PROVIDERS = ("console", "sns", "twilio", "flowroute", "sipgate")
DEFAULT_SMS_TEMPLATE = "{code} is your {org} sign-in code. It expires in {minutes} minutes. Don't share it."
DEFAULT_VERIFY_TEMPLATE = "{code} is your {org} verification code. It expires in {minutes} minutes."

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """All configuration of twostep; `TWOSTEP_` + the upper-case field name sets each one."""

    model_config = SettingsConfigDict(
        env_prefix="TWOSTEP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- service ---
    stage: Stage = "dev"
    org_name: str = Field(default="twostep", min_length=1, max_length=40)
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "twostep-api"
    web_origin: str | None = None
    cors_origins: CommaList = Field(default_factory=list)
    trusted_proxies: CommaList = Field(default_factory=list)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- storage ---
    storage: StorageName = "sqlite"
    sqlite_path: Path = Path("./twostep.db")
    # How long a write waits for another writer's lock before the request fails with 503.
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=1, le=600_000)
    dynamodb_table: str = "twostep"
    secret_arn: str | None = None
    kms_key_id: str | None = None

    # --- one-time codes ---
    otp_length: int = Field(default=6, ge=4, le=10)
    otp_ttl_seconds: int = Field(default=120, ge=5, le=600)
    otp_max_attempts: int = Field(default=5, ge=1, le=10)
    otp_hmac_key: SecretStr | None = None
    sms_template: str = DEFAULT_SMS_TEMPLATE
    require_second_factor: bool = True
    otp_account_failure_limit: int = Field(default=100, ge=1, le=1000)

    # --- passwords ---
    argon2_memory_kib: int = Field(default=19456, ge=19456)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_parallelism: int = Field(default=1, ge=1, le=8)

    # --- tokens ---
    jwt_algorithm: JwtAlgorithm = "RS256"
    jwt_hs256_secret: SecretStr | None = None
    jwt_key_file: Path = Path("./twostep-keys.json")
    jwt_rsa_bits: int = 2048  # 2048, 3072 or 4096 (checked below: a Literal of ints rejects env strings)
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(default=12 * 3600, ge=300, le=30 * 86400)

    # --- sessions ---
    revocation_refresh_seconds: float = Field(
        default=2.0,
        ge=0,
        le=4,
        description="How often the API re-reads the list of ended sessions (a sign-out reaches every "
        "API within this, plus a request); storage that cannot be read for 5 s makes protected routes 503.",
    )
    authorizer_revocation_ttl_seconds: int = Field(
        default=30,
        ge=0,
        le=300,
        description="How long the Lambda authorizer trusts its copy of the list of ended sessions.",
    )
    recent_auth_max_age_seconds: int = Field(
        default=3600,
        ge=60,
        le=7 * 86400,
        description="How recent a sign-in must be (`auth_time`) for sensitive routes such as DELETE /me.",
    )

    # --- SMS delivery ---
    sms_providers: CommaList = Field(default_factory=lambda: ["console"])
    sms_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    flowroute_access_key: str | None = None
    flowroute_secret_key: SecretStr | None = None
    flowroute_from: str | None = None
    flowroute_base_url: str = "https://api.flowroute.com"
    sipgate_token_id: str | None = None
    sipgate_token: SecretStr | None = None
    sipgate_sms_id: str | None = None
    sipgate_base_url: str = "https://api.sipgate.com"
    sns_sender_id: str | None = None

    # --- abuse and cost protection ---
    resend_cooldown_seconds: int = Field(default=30, ge=0, le=3600)
    sms_per_number_10min: int = Field(default=5, ge=1, le=1000)
    sms_per_number_day: int = Field(default=10, ge=1, le=10000)
    sms_hourly_budget: int = Field(default=1000, ge=0)
    sms_allowed_countries: CommaList = Field(default_factory=list)
    login_free_failures: int = Field(default=5, ge=1, le=100)
    login_max_delay_seconds: int = Field(default=900, ge=1, le=86400)
    ip_login_per_minute: int = Field(default=60, ge=1)
    ip_register_per_hour: int = Field(default=30, ge=1)
    ip_verify_create_per_hour: int = Field(default=60, ge=1)

    # --- standalone verification API ---
    verify_api_keys: CommaList = Field(default_factory=list)
    verify_default_length: int = Field(default=6, ge=4, le=10)
    verify_default_ttl_seconds: int = Field(default=600, ge=30)
    verify_max_ttl_seconds: int = Field(default=600, ge=30, le=86400)
    verify_default_retries: int = Field(default=3, ge=1, le=10)
    verify_template: str = DEFAULT_VERIFY_TEMPLATE

    _split = field_validator(
        "cors_origins",
        "trusted_proxies",
        "sms_providers",
        "sms_allowed_countries",
        "verify_api_keys",
        mode="before",
    )(_split_commas)

    @field_validator("sms_providers")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in KNOWN_SMS_PROVIDERS]
        if unknown:
            raise ValueError(
                f"unknown provider(s) {', '.join(unknown)}; use {', '.join(KNOWN_SMS_PROVIDERS)}"
            )
        if not value:
            raise ValueError("at least one provider is needed")
        return value

    @field_validator("jwt_rsa_bits")
    @classmethod
    def _rsa_size(cls, value: int) -> int:
        if value not in (2048, 3072, 4096):
            raise ValueError("Input should be 2048, 3072 or 4096")
        return value

    @field_validator("sms_allowed_countries")
    @classmethod
    def _upper_countries(cls, value: list[str]) -> list[str]:
        return [code.upper() for code in value]

    @field_validator("sms_template", "verify_template")
    @classmethod
    def _template_has_code(cls, value: str) -> str:
        if "{code}" not in value:
            raise ValueError("the template must contain {code}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        secret = self.jwt_hs256_secret
        if (
            self.jwt_algorithm == "HS256"
            and secret is not None
            and len(secret.get_secret_value().encode()) < 32
        ):
            raise ValueError("TWOSTEP_JWT_HS256_SECRET must be at least 32 bytes")
        if self.stage == "prod" and "console" in self.sms_providers:
            raise ValueError("TWOSTEP_SMS_PROVIDERS: the console provider is refused in prod")
        if self.verify_default_ttl_seconds > self.verify_max_ttl_seconds:
            raise ValueError("TWOSTEP_VERIFY_DEFAULT_TTL_SECONDS exceeds TWOSTEP_VERIFY_MAX_TTL_SECONDS")
        return self


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first offending variable, for a clean start-up failure."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    if not field:
        return f"invalid configuration: {message}"
    return f"TWOSTEP_{field.upper()}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and `.env`), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
