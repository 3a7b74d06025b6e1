"""The one settings model: every `TWOSTEP_*` variable, validated once at start-up.

Nothing else in the package reads the environment. Entry points build `Settings()` and hand it to
`container.build`; a value out of range stops start-up with one line naming the variable
(see `describe_validation_error`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from twostep.channels import registry
from twostep.domain.locales import LOCALE_TAG
from twostep.domain.models import TENANT_NAME
from twostep.domain.numbers import DEFAULT_ALLOWED_TYPES, NUMBER_TYPES
from twostep.domain.otp import template_problem

Stage = Literal["dev", "staging", "prod"]
StorageName = Literal["memory", "sqlite", "dynamodb", "postgres"]
JwtAlgorithm = Literal["RS256", "ES256", "EdDSA", "HS256"]

KNOWN_SMS_PROVIDERS = registry.providers_for(registry.SMS)  # the registry owns provider names
DEFAULT_SMS_TEMPLATE = "{code} is your {org} sign-in code. It expires in {minutes} minutes. Don't share it."
DEFAULT_VERIFY_TEMPLATE = "{code} is your {org} verification code. It expires in {minutes} minutes."

# Caps and money are kept in 64-bit integer counters (SQLite and PostgreSQL integers, micro-dollars): a
# value past these bounds passed start-up, then every request that counted against it failed with 500
# (OverflowError). Both are far above any real traffic or spend; past them a cap is no cap anyway.
MOST_PER_WINDOW = 1_000_000_000
MOST_USD = 1_000_000_000.0

CommaList = Annotated[list[str], NoDecode]
# DynamoDB's rule for a table name (its API refuses any other, which surfaced as "storage unavailable").
DYNAMODB_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
# Google's app hash: the first 11 base64 characters of a SHA-256 over the package name and signing key.
APP_HASH = re.compile(r"[A-Za-z0-9+/]{11}")
# A custom domain's API mapping or a stage name as a path: `/auth`, `/v1/auth` (no trailing slash).
BASE_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+")


class TenantSettings(BaseModel):
    """One verification API tenant's own settings (`TWOSTEP_VERIFY_TENANTS`)."""

    model_config = ConfigDict(extra="forbid")
    template: str | None = None
    sms_per_hour: int | None = Field(default=None, ge=1, le=MOST_PER_WINDOW)
    sms_per_day: int | None = Field(default=None, ge=1, le=MOST_PER_WINDOW)
    allow_message: bool = False
    allow_urls: bool = False

    @field_validator("template")
    @classmethod
    def _usable_template(cls, value: str | None) -> str | None:
        problem = None if value is None else template_problem(value)
        if problem:
            raise ValueError(problem)
        return value


def parse_country_amounts(entries: list[str], parts: int) -> dict[str, tuple[float, ...]]:
    """`["DE:0.09", "US:2/20"]` as `{"DE": (0.09,), "US": (2.0, 20.0)}`, with `parts` numbers each.

    Raises:
        ValueError: an entry that is not `CC:n` (or `CC:n/m`) with numbers from 0 to `MOST_USD`.
    """
    parsed: dict[str, tuple[float, ...]] = {}
    for entry in entries:
        country, _, amounts = entry.partition(":")
        try:
            numbers = tuple(float(part) for part in amounts.split("/"))
        except ValueError:
            numbers = ()
        # `*` (every country not listed) is a price; as a budget it limited no country at all
        valid_country = (country == "*" and parts == 1) or (len(country) == 2 and country.isalpha())
        in_range = all(0 <= n <= MOST_USD for n in numbers)  # not inf, 1e300 or nan (never in range)
        if not valid_country or len(numbers) != parts or not in_range:
            shape = "CC:price" if parts == 1 else "CC:hourly/daily"
            raise ValueError(f"{entry!r} is not {shape} (ISO country code, US dollars)")
        parsed[country.upper()] = numbers
    return parsed


def parse_language_budgets(entries: list[str]) -> dict[str, int]:
    """`["tr:2", "ru:2"]` as `{"tr": 2, "ru": 2}`.

    Raises:
        ValueError: an entry that is not `language:segments` (1 to 10).
    """
    budgets: dict[str, int] = {}
    for entry in entries:
        language, _, count = entry.partition(":")
        if not (LOCALE_TAG.fullmatch(language) and count.isdigit() and 1 <= int(count) <= 10):
            raise ValueError(f"{entry!r} is not language:segments, like tr:2 (1 to 10 segments)")
        budgets[language.lower()] = int(count)
    return budgets


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# Defaults made by Python functions, not by `list` or `dict`: pydantic asks each default factory for its
# signature, and a builtin's is parsed from its text signature (~0.4 % of the instructions of a Lambda cold start).
def _no_items() -> list[str]:
    return []


def _no_tenants() -> dict[str, TenantSettings]:
    return {}


class Settings(BaseSettings):
    """All configuration of twostep; `TWOSTEP_` + the upper-case field name sets each one."""

    model_config = SettingsConfigDict(
        env_prefix="TWOSTEP_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,  # a rejected value may be a secret (a receipt secret, an API key)
        # Not `use_attribute_docstrings`: it parsed this module's source on every start (a fifth of the
        # Lambda's cold start). The docs read the docstrings under the fields (docs/settings_page.py).
    )

    # --- service ---
    stage: Stage = "dev"
    """`dev`, `staging` or `prod`. `prod` refuses the console SMS provider and the SMS outbox."""
    org_name: str = Field(default="twostep", min_length=1, max_length=40)
    """Your organisation's name, as `{org}` in SMS texts and in emails and their subjects (any script; no
    line breaks or control characters)."""
    issuer: str = "http://127.0.0.1:8000"
    """The `iss` claim of tokens and the base of the OpenID discovery URLs. Unset, `twostep serve` uses
    `http://HOST:PORT` from its `--host` and `--port`, and outside `dev` warns at start: set it to the public
    URL clients and verifiers know."""
    audience: str = "twostep-api"
    """The `aud` claim of access tokens; verifiers (the authorizer too) require it."""
    web_origin: str | None = None
    """The web app's origin (`https://auth.example.com`); when set, SMS texts end with the WebOTP line
    `@domain #code`, so browsers can fill the code in."""
    cors_origins: CommaList = Field(default_factory=_no_items)
    """Comma-separated origins allowed to call the API from a browser, as browsers send them
    (`https://app.example.com`: scheme, lower-case host, a port only when not the default; no path or
    trailing slash); empty allows none. `*` allows every origin's calls with bearer tokens but no cookies
    (the web UI's refresh cookie needs its origin listed)."""
    api_base_path: str | None = None
    """AWS Lambda only: the path prefix API Gateway leaves in front of every route, which the API function
    strips before routing: a custom domain's API mapping (`/auth` for `https://api.example.com/auth/...`) or
    an HTTP API stage other than `$default` (`/prod`). Unset or `/`: none (the SAM template's stage)."""
    trusted_proxies: CommaList = Field(default_factory=_no_items)
    """Comma-separated proxy addresses or networks; `X-Forwarded-For` is read (right to left) only when the
    peer is one of them. Set it behind a load balancer, or every client shares the proxy's rate limits."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """The lowest level written to the log on stderr."""
    log_format: Literal["json", "console"] = "json"
    """`json`: one JSON object a line (production); `console`: readable lines for a person (dev)."""
    http_request_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """`twostep serve` closes a connection whose request (headers and body) is not in this long after
    its first byte: slow clients (slowloris) cannot hold connections open."""
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    """`twostep serve` closes a kept-alive connection idle for this long. Behind a proxy that keeps
    connections open, set it above the proxy's idle timeout, so the proxy closes idle ones first."""
    api_docs: bool | None = None
    """Serve `/docs` (Swagger UI) and `/redoc`; unset or empty, they are on except when TWOSTEP_STAGE=prod."""
    metrics_token: SecretStr | None = None
    """When set, `GET /metrics` answers only `Authorization: Bearer <this>`; unset, only loopback callers
    whose request names no client of a proxy (no `X-Forwarded-For`, `Forwarded` or `X-Real-IP`)."""
    audit_retention_days: int = Field(default=90, ge=1, le=3650)
    """How long audit events are kept; housekeeping deletes older ones."""
    purge_grace_seconds: int = Field(default=86_400, ge=0, le=30 * 86_400)
    """How long expired or used codes, ended sessions and console-outbox messages are kept before
    housekeeping deletes them (late requests still hear "expired"; a reused refresh token is still seen).
    Keep it longer than a message takes to send: a code on its way counts as expired until it was sent.
    Sign-outs on the revocation list are kept at least as long as their access tokens live, whatever this."""
    housekeeping_interval_seconds: int = Field(default=300, ge=1, le=86_400)
    """How often a running server deletes expired rows in the background (one bounded batch each time)."""
    housekeeping_batch: int = Field(default=500, ge=1, le=100_000)
    """The most rows of each kind one housekeeping run deletes, so a run stays short."""
    idempotency_ttl_seconds: int = Field(default=86_400, ge=1, le=7 * 86_400)
    """How long an `Idempotency-Key` is remembered with its first answer (replayed to repeats); then
    housekeeping deletes it and the key may be used again."""
    shutdown_timeout_seconds: int = Field(default=25, ge=1, le=600)
    """On SIGTERM, how long requests in flight may still run before the server stops (below
    Kubernetes' default 30 s grace period); the storage is closed afterwards."""

    # --- storage ---
    storage: StorageName = "sqlite"
    """Where records live: `sqlite` (one file), `postgres` (a PostgreSQL server, for a fleet), `dynamodb`
    (AWS), or `memory` (lost on exit; experiments)."""
    sqlite_path: Path = Path("./twostep.db")
    """The SQLite database file (relative to the working directory). Its folder must exist and be writable
    (SQLite keeps its -wal and -shm files beside it); a folder as the path stops the start (exit 2)."""
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=1, le=600_000)
    """How long a write waits for another writer's lock before the request fails with 503."""
    database_url: SecretStr | None = None
    """PostgreSQL connection URL, `postgresql://user:password@host:5432/dbname`, for `TWOSTEP_STORAGE=postgres`;
    kept secret (never logged)."""
    database_pool_size: int = Field(default=10, ge=1, le=200)
    """Most PostgreSQL connections one process keeps; each worker process has its own pool."""
    database_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    """How long a request waits for a PostgreSQL connection before it fails with 503; also each statement's
    `statement_timeout` (a statement cancelled then fails with 503 too)."""
    dynamodb_table: str = "twostep"
    """The DynamoDB table (single-table design)."""
    aws_region: str | None = Field(
        default=None, validation_alias=AliasChoices("aws_region", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    """The AWS region for DynamoDB, SNS, Secrets Manager and KMS; read from `AWS_REGION` or
    `AWS_DEFAULT_REGION` (no `TWOSTEP_` prefix); unset, boto3's profile or config file decides."""
    secret_arn: str | None = None
    """The Secrets Manager secret holding the key material (AWS); unset, the keys live in the database,
    sealed with the master key."""
    master_key: SecretStr | None = None
    """The deployment's master key (at least 32 characters; `twostep keys master-key` makes one): it seals
    the signing keys and the code HMAC key kept in the database. Every process and host of a deployment
    needs the same one. Required outside dev (or `TWOSTEP_MASTER_KEY_FILE`, or `TWOSTEP_SECRET_ARN`); in
    dev an SQLite database keeps one beside its file (`<database>.master-key`, mode 0600); memory storage
    and an SQLite `:memory:` database, seen by no other process, keep a random one in memory."""
    master_key_file: Path | None = None
    """A file holding the master key (a mounted secret), instead of `TWOSTEP_MASTER_KEY` (not with it)."""
    master_key_previous: SecretStr | None = None
    """The master key being replaced, while `twostep keys rotate-master-key` moves the deployment to a new
    `TWOSTEP_MASTER_KEY`: a process opens the database's keys with it when they are still sealed with it,
    and never seals with it alone (`twostep keys rotate` seals with it too, for servers not yet restarted
    with the new key). Unset it (and destroy the old key) once every process has the new key. Refused
    without `TWOSTEP_MASTER_KEY` or its file (dev on SQLite keeps the replaced key beside the database)."""
    master_key_previous_file: Path | None = None
    """A file holding the previous master key, instead of `TWOSTEP_MASTER_KEY_PREVIOUS` (not with it)."""
    kms_key_id: str | None = None
    """A KMS key id or ARN; when set, phone numbers are encrypted with it in DynamoDB."""

    # --- one-time codes ---
    otp_length: int = Field(default=6, ge=4, le=10)
    """Digits in a sign-in code."""
    otp_ttl_seconds: int = Field(default=120, ge=5, le=600)
    """Lifetime of a sign-in code, in seconds."""
    otp_max_attempts: int = Field(default=5, ge=1, le=10)
    """Checks allowed per sign-in code, right or wrong; then the code is spent."""
    otp_hmac_key: SecretStr | None = None
    """The key codes are hashed with (HMAC), at least 32 bytes; unset or empty, it comes from the shared key set
    (database or secret)."""
    sms_template: str = DEFAULT_SMS_TEMPLATE
    """The sign-in SMS text; must contain `{code}`; may use `{org}` and `{minutes}` (any other `{word}` stops the
    start: a misspelt one would go out as written)."""
    default_locale: str = "en"
    """The language of code texts when neither the request, the account nor the number's country names a
    bundled one (`en`, `de`, `tr`, `fr`, `es`, `it`, `pt`, `nl`, `pl`, `ru`, `ar`, `ja`)."""
    sms_max_segments: int = Field(default=1, ge=1, le=10)
    """The most SMS segments a code text may take (with the longest code, the org name and the autofill
    lines); start-up fails naming the text and language that takes more."""
    sms_max_segments_by_language: CommaList = Field(default_factory=_no_items)
    """Per-language exceptions to TWOSTEP_SMS_MAX_SEGMENTS, `tr:2,ru:2` (UCS-2 texts hold 70 characters); each
    names a bundled language (`pt`, not `pt-BR`), or the start stops."""
    sms_max_segments_transaction: int = Field(default=2, ge=1, le=10)
    """The most SMS segments a transaction code's text may take (checked with an everyday amount and
    payee): it also names what is paid, and to whom. Where TWOSTEP_SMS_MAX_SEGMENTS (or the language's entry
    in TWOSTEP_SMS_MAX_SEGMENTS_BY_LANGUAGE) allows more, that larger budget holds for it too."""
    sms_max_segments_notice: int = Field(default=3, ge=1, le=10)
    """The most SMS segments the notice of an account change may take (checked with the longest masked
    number and an everyday masked address): it names the new number or address, and is sent rarely. In
    the bundled languages it takes one segment (GSM-7) or two (UCS-2) with a short org name; three leave
    room for a long TWOSTEP_ORG_NAME."""
    android_app_hash: str | None = None
    """Your Android app's 11-character SMS Retriever hash; when set, code texts end with it (after the
    WebOTP line when there is one), so the app reads the code without SMS permissions."""
    require_second_factor: bool = True
    """`false` allows accounts without a phone (password only, as the Lambda JWT tutorial signed up); a new
    password then needs at least 15 characters instead of 8, since it may be the only factor (NIST SP
    800-63B-4). Passwords set before keep signing in."""
    otp_account_failure_limit: int = Field(default=100, ge=1, le=1000)
    """Consecutive wrong codes per account (across sign-ins and resends) before the second factor locks
    until `twostep users unlock`."""
    reset_code_failures_per_day: int = Field(default=10, ge=1, le=1000)
    """Wrong password-reset codes per email typed (known or not) per UTC day, before that email's resets
    answer 429 until the day ends; they never count toward the sign-in's wrong-code lock. A device the
    account remembered has a budget of this size of its own, so its owner can reset when strangers spent it."""
    reset_code_failures_per_client_day: int = Field(default=5, ge=1, le=1000)
    """One client's (IP, IPv6 /64) share of an email's wrong reset codes per UTC day, so one stranger cannot
    spend the whole `TWOSTEP_RESET_CODE_FAILURES_PER_DAY` and refuse the owner's reset (429
    `reset_wrong_codes_client_day` for that client only). Above that total it is refused at start; unset, it
    is at most half of it (rounded up), so lowering the total alone keeps a share."""
    reset_requests_per_day: int = Field(default=3, ge=1, le=1000)
    """Password resets asked for per email typed (known or not) per UTC day, before `POST /password/forgot`
    for it answers 429 `reset_requests_day` until the day ends. Each sends a code that counts against the
    account's and the number's caps, which its sign-ins need too: it must stay below
    `TWOSTEP_ACCOUNT_SMS_PER_DAY`, `TWOSTEP_SMS_PER_NUMBER_10MIN` and `TWOSTEP_SMS_PER_NUMBER_DAY` (refused at
    start otherwise; unset, it is lowered to one below the smallest; a cap of 1 leaves 1), so strangers asking
    for resets never spend the owner's sign-in codes. A device the account remembered has a budget of this size
    of its own."""
    reset_requests_per_client_day: int = Field(default=2, ge=1, le=1000)
    """One client's (IP, IPv6 /64) share of an email's resets per UTC day (429 `reset_requests_client_day`
    for that client only), so one stranger cannot spend the owner's resets of the day. Above
    `TWOSTEP_RESET_REQUESTS_PER_DAY` it is refused at start; unset, it is at most half of it (rounded up)."""

    # --- second factors beyond SMS ---
    remember_device_days: int = Field(default=30, ge=0, le=400)
    """How long "remember this device" lets a browser or app skip the second factor; 0 turns it off."""
    remember_device_limit: int = Field(default=20, ge=1, le=100)
    """Remembered devices per account: remembering one more forgets the oldest (audited
    `device_forgotten`, reason `limit`), so `GET /me/devices` lists at most this many."""
    passkey_limit: int = Field(default=20, ge=1, le=100)
    """Passkeys per account: with this many, adding another is refused (409 `passkey_limit_reached`, at
    the registration options and again as it is stored) until one is removed; none is ever dropped for it.
    Lowering it keeps the passkeys an account already has beyond it."""
    webauthn_rp_id: str | None = None
    """The passkey relying-party id: the web origin's host or a parent domain of it. Unset: the host of
    `TWOSTEP_WEB_ORIGIN`, or in dev the host the request came to."""
    webauthn_origins: CommaList = Field(default_factory=_no_items)
    """Comma-separated origins whose pages may use passkeys. Unset: `TWOSTEP_WEB_ORIGIN`, or in dev the
    request's own origin (`http://localhost` is a secure context; an IP address cannot hold passkeys)."""

    # --- passwords ---
    # Upper bounds: libargon2 takes both as 32-bit numbers, so a larger value started the server and then
    # failed every sign-up and sign-in with 500 (OverflowError); 4 GiB and 100 passes, far above OWASP's and
    # RFC 9106's choices, already make each check take seconds (and each hashing thread hold the memory).
    argon2_memory_kib: int = Field(default=19456, ge=19456, le=4 * 1024 * 1024)
    """Argon2id memory cost in KiB (OWASP minimum 19456)."""
    argon2_time_cost: int = Field(default=2, ge=2, le=100)
    """Argon2id iterations."""
    argon2_parallelism: int = Field(default=1, ge=1, le=8)
    """Argon2id lanes."""
    password_hash_threads: int | None = Field(default=None, ge=1, le=64)
    """Threads hashing passwords in each server process (each holds `argon2_memory_kib` while it runs).
    Unset or empty: one per usable core, the cores shared out among `twostep serve --workers` processes."""
    password_hash_group: int = Field(default=16, ge=1, le=64)
    """While more passwords wait, a hashing thread keeps hashing and hands back up to this many results at
    once, so their request code runs together with warm caches (1: each as soon as it is done). A lone
    check is never held; under load an answer can wait for up to this many hashes minus one."""

    # --- tokens ---
    jwt_algorithm: JwtAlgorithm = "RS256"
    """Token signature algorithm: `RS256`, `ES256`, `EdDSA` or `HS256` (then set `TWOSTEP_JWT_HS256_SECRET`)."""
    jwt_hs256_secret: SecretStr | None = None
    """The shared HS256 secret, at least 32 bytes; only with `TWOSTEP_JWT_ALGORITHM=HS256`."""
    jwt_key_file: Path = Path("./twostep-keys.json")
    """A key file of earlier versions (signing keys and the code HMAC key). Never created any more: when it
    exists, its keys are moved into the database on the first start, and a start whose file holds other
    keys than the database is refused. The API Gateway authorizer still reads it outside AWS."""
    jwt_rsa_bits: int = 2048  # 2048, 3072 or 4096 (checked below: a Literal of ints rejects env strings)
    """RSA key size for new RS256 keys: 2048, 3072 or 4096."""
    key_activation_delay_seconds: int = Field(default=3900, ge=0, le=7 * 86400)
    """After `twostep keys rotate`, how long the new public key is only published (JWKS) before anything
    signs with it: API Gateway caches a key set for up to an hour, so the default is 65 minutes. At least
    `TWOSTEP_KEYS_REFRESH_SECONDS`, so every server knows a key before any server signs with it."""
    keys_refresh_seconds: int = Field(default=30, ge=1, le=60)
    """How often a running server re-reads the shared key set (one small read), so a rotation reaches it."""
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    """Clock skew tolerated when checking `exp`, `nbf` and `iat`."""
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    """Access-token lifetime, in seconds."""
    refresh_token_ttl_seconds: int = Field(default=12 * 3600, ge=300, le=30 * 86400)
    """Absolute lifetime of a sign-in session (its refresh-token family), in seconds."""

    # --- sessions ---
    revocation_refresh_seconds: float = Field(default=2.0, ge=0, le=4)
    """How often the API re-reads the list of ended sessions, in seconds: a sign-out reaches every API
    process within this plus one request. Storage unreadable for 5 s makes protected routes answer 503."""
    authorizer_revocation_ttl_seconds: int = Field(default=30, ge=0, le=300)
    """How long the Lambda authorizer trusts its copy of the list of ended sessions, in seconds."""
    recent_auth_max_age_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    """How recent a sign-in (`auth_time`) must be for sensitive routes such as DELETE /me, in seconds."""
    session_idle_lifetime_seconds: int | None = Field(default=None, ge=300, le=30 * 86400)
    """Inactivity lifetime of a sign-in session, in seconds: a session neither refreshed nor signed in to
    for longer ends, and its refresh token gets `401 session_revoked`. Unset or empty (the default): sessions end
    only at their absolute lifetime. NIST SP 800-63B asks 1800 (rev 3) or 3600 (rev 4) for AAL2. Longer
    than `TWOSTEP_ACCESS_TOKEN_TTL_SECONDS`, shorter than `TWOSTEP_REFRESH_TOKEN_TTL_SECONDS`."""

    # --- email delivery ---
    email_provider: Literal["console", "smtp", "ses"] = "console"
    """Email provider for codes and notices: `console` (dev outbox; the API refuses it in prod, the
    verification app, which sends no email, does not), `smtp` or `ses`."""
    email_from: str = "twostep <no-reply@localhost>"
    """The From address of every email twostep sends."""
    email_reply_to: str | None = None
    """The Reply-To address of every email (`Support <help@example.com>`), where a person's answer goes;
    unset or empty: none, so answers go to TWOSTEP_EMAIL_FROM."""
    email_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    """Connect and read timeout of the email provider, in seconds; an SMTP exchange ends after three."""
    smtp_host: str | None = None
    """SMTP server host; required by the `smtp` provider."""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    """SMTP server port (587 for STARTTLS, 465 for TLS, 25 unencrypted)."""
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    """`starttls`, `tls` (implicit, port 465) or `none` (only for a local relay)."""
    smtp_username: str | None = None
    """SMTP login name, if the server wants one."""
    smtp_password: SecretStr | None = None
    """SMTP password, if the server wants one."""

    # --- SMS delivery ---
    sms_providers: CommaList = Field(default_factory=lambda: ["console"])
    """Comma-separated SMS providers, tried in order: `console`, `sns`, `twilio`, `flowroute`, `sipgate`
    (the provider registry, `twostep/channels/registry.py`, names them)."""
    channel_providers: CommaList | None = None
    """Comma-separated `channel:provider` entries for the channels beyond SMS, tried in order per channel:
    `voice:twilio,whatsapp:twilio`. Empty turns them off; unset, a dev deployment texting through the
    console carries every channel through the console, any other carries SMS only."""
    sms_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    """Connect and read timeout of every SMS provider call, in seconds."""
    twilio_account_sid: str | None = None
    """Twilio account SID (`AC…`); required by the `twilio` provider."""
    twilio_auth_token: SecretStr | None = None
    """Twilio auth token; required by the `twilio` provider."""
    twilio_from: str | None = None
    """Twilio sender number (E.164); or set `TWOSTEP_TWILIO_MESSAGING_SERVICE_SID`."""
    twilio_messaging_service_sid: str | None = None
    """Twilio messaging service SID (`MG…`), used instead of `TWOSTEP_TWILIO_FROM` when set."""
    twilio_voice_from: str | None = None
    """Twilio number (E.164) voice calls come from; required by `voice:twilio`."""
    twilio_whatsapp_from: str | None = None
    """Twilio WhatsApp sender (E.164, without `whatsapp:`); required by `whatsapp:twilio`."""
    twilio_whatsapp_content_sid: str | None = None
    """An approved WhatsApp authentication template (`HX…`) whose variable `{{1}}` is the code; unset, the
    code text goes as the body (WhatsApp delivers that only inside a conversation, or in the sandbox)."""
    twilio_base_url: str = "https://api.twilio.com"
    """Twilio API base URL (a test server in tests)."""
    flowroute_access_key: str | None = None
    """Flowroute API access key; required by the `flowroute` provider."""
    flowroute_secret_key: SecretStr | None = None
    """Flowroute API secret key; required by the `flowroute` provider."""
    flowroute_from: str | None = None
    """Your Flowroute number, 11 digits (`1XXXXXXXXXX`); required by the `flowroute` provider."""
    flowroute_base_url: str = "https://api.flowroute.com"
    """Flowroute API base URL (a test server in tests)."""
    sipgate_token_id: str | None = None
    """sipgate.io personal access token id (`token-…`); required by the `sipgate` provider."""
    sipgate_token: SecretStr | None = None
    """sipgate.io personal access token (scope `sessions:sms:write`); required by the `sipgate` provider."""
    sipgate_sms_id: str | None = None
    """sipgate.io SMS extension id (e.g. `s0`); required by the `sipgate` provider."""
    sipgate_base_url: str = "https://api.sipgate.com"
    """sipgate.io API base URL (a test server in tests)."""
    sns_sender_id: str | None = None
    """Amazon SNS sender ID (1-11 letters or digits) where the destination country supports one."""
    sns_origination_number: str | None = None
    """Amazon SNS origination number (E.164, a number or short code you own in SNS) to send from."""

    # --- delivery receipts ---
    public_url: str | None = None
    """This service's public base URL as SMS providers reach it (`https://auth.example.com`). When set,
    Twilio is asked for status callbacks at `<url>/receipts/twilio` (their signature is checked against
    this URL, never the Host header, which proxies rewrite) and Flowroute for delivery receipts."""
    receipt_secret: SecretStr | None = None
    """A random secret (at least 24 characters) in the Flowroute delivery-receipt URL
    (`<public url>/receipts/flowroute/<secret>`): Flowroute signs nothing, so the URL is the credential."""
    fallback_channels: CommaList = Field(default_factory=_no_items)
    """Comma-separated channels (`voice,whatsapp`) to send a fresh code by, in this order, when a receipt
    says a texted code failed while it was still valid and unused (at most once per code); empty: off. The
    start stops when no provider carries any of them (`TWOSTEP_CHANNEL_PROVIDERS`)."""

    # --- abuse and cost protection ---
    resend_cooldown_seconds: int = Field(default=30, ge=0, le=3600)
    """Seconds between two texts to one number."""
    sms_per_number_10min: int = Field(default=5, ge=1, le=1000)
    """Texts to one number per 10 minutes."""
    sms_per_number_day: int = Field(default=10, ge=1, le=10000)
    """Texts to one number per UTC day."""
    sms_hourly_budget: int = Field(default=1000, ge=0, le=MOST_PER_WINDOW)
    """Texts from the whole service per hour; a hard stop (`0` sends nothing)."""
    sms_allowed_countries: CommaList = Field(default_factory=_no_items)
    """Comma-separated ISO country codes texts may go to (e.g. `DE,AT,CH`); empty allows all."""
    login_free_failures: int = Field(default=5, ge=1, le=100)
    """Wrong passwords per email from one client before each further failure adds a doubling wait."""
    login_max_delay_seconds: int = Field(default=900, ge=1, le=86400)
    """The longest wait after wrong passwords, in seconds."""
    login_account_free_failures: int = Field(default=100, ge=1, le=1_000_000)
    """Wrong passwords per email from all clients together in a day before the whole account is slowed;
    below it only the failing client is (a stranger cannot lock the owner out)."""
    ip_login_per_minute: int = Field(default=60, ge=1, le=MOST_PER_WINDOW)
    """Sign-in attempts per client IP per minute (IPv6 per /64)."""
    ip_register_per_hour: int = Field(default=30, ge=1, le=MOST_PER_WINDOW)
    """Sign-ups per client IP per hour."""
    ip_verify_create_per_hour: int = Field(default=60, ge=1, le=MOST_PER_WINDOW)
    """`POST /verifications` per client IP per hour (callers without an API key)."""
    ip_sms_per_hour: int = Field(default=10, ge=1, le=MOST_PER_WINDOW)
    """Texts one client IP (IPv6: its /64) may cause per hour: sign-ins, resends, verifications."""
    account_sms_per_day: int = Field(default=10, ge=1, le=MOST_PER_WINDOW)
    """Sign-in codes texted for one account per UTC day, whatever its number."""
    sms_allowed_number_types: CommaList = Field(default_factory=lambda: list(DEFAULT_ALLOWED_TYPES))
    """Comma-separated phonenumbers number types codes may go to (`MOBILE`, `FIXED_LINE_OR_MOBILE`,
    `FIXED_LINE`, `VOIP`, …); premium-rate, toll-free and satellite numbers are where pumping goes. Empty
    means the default (`MOBILE,FIXED_LINE_OR_MOBILE`)."""

    # --- fraud guard (SMS pumping) ---
    fraud_guard: bool = True
    """Block number prefixes whose codes are sent but not used (SMS pumping); on by default."""
    fraud_min_sends: int = Field(default=20, ge=1, le=MOST_PER_WINDOW)
    """Codes sent to a prefix (in the rolling window) before its conversion is judged."""
    fraud_min_conversion: float = Field(default=0.2, ge=0, le=1)
    """The share of codes sent to a prefix that must be used; below it the prefix is blocked."""
    fraud_window_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    """The rolling window of the sent and verified counts per prefix, in seconds."""
    fraud_block_seconds: int = Field(default=6 * 3600, ge=60, le=30 * 86400)
    """How long a blocked prefix stays blocked (`twostep fraud unblock PREFIX` lifts it sooner)."""
    sms_safe_list: CommaList = Field(default_factory=_no_items)
    """Comma-separated E.164 numbers and prefixes (`+4915112345678,+49151`) the fraud guard never blocks;
    a number written any other way (`+4401…` with its trunk 0) is refused, naming its E.164 form."""

    # --- SMS money budget ---
    sms_prices: CommaList = Field(default_factory=_no_items)
    """Price per SMS segment in US dollars by ISO country, over the shipped table
    (`DE:0.09,US:0.0083`); `*` prices every country not listed."""
    sms_budget_hourly_usd: float | None = Field(default=100.0, ge=0, le=MOST_USD)
    """US dollars the whole service may spend on texts per hour; a hard stop (503). Empty: no limit."""
    sms_budget_daily_usd: float | None = Field(default=1000.0, ge=0, le=MOST_USD)
    """US dollars the whole service may spend on texts per UTC day; a hard stop (503). Empty: no limit."""
    sms_country_budgets: CommaList = Field(default_factory=_no_items)
    """Per-country hourly/daily budgets in US dollars, `DE:5/50,US:2/20` (hard stops, 503); each names a
    country (`*` is refused: the whole service's budgets are the two above)."""
    voice_call_units: int = Field(default=2, ge=1, le=20)
    """What a voice call counts against these budgets, in SMS segments to the same country (a call is
    held to 60 s, billed as one minute); set it from your provider's per-minute prices. A WhatsApp
    message counts as one segment; the per-number and per-client caps count every message as one."""

    # --- standalone verification API ---
    verify_api_keys: CommaList = Field(default_factory=_no_items)
    """Comma-separated API keys for the verification API (`X-Api-Key`), each `tenant:key` (a bare key
    belongs to the tenant `default`); required unless only the console provider runs in `dev`."""
    verify_api_keys_file: Path | None = None
    """A file of `tenant:key` lines (`#` comments), added to `TWOSTEP_VERIFY_API_KEYS`."""
    # NoDecode: pydantic-settings' own JSON decoding raised a SettingsError (a traceback, exit 1) for a value
    # that is not JSON; `_tenants_json` decodes it and says what is wrong in one line.
    verify_tenants: Annotated[dict[str, TenantSettings], NoDecode] = Field(default_factory=_no_tenants)
    """Per-tenant settings as JSON: `{"shop": {"template": "…{code}…", "sms_per_hour": 500,
    "sms_per_day": 5000, "allow_message": true, "allow_urls": false}}`; tenants not listed get defaults."""
    verify_tenant_sms_per_hour: int = Field(default=1000, ge=1, le=MOST_PER_WINDOW)
    """Texts one tenant (API key owner) may send per hour unless `TWOSTEP_VERIFY_TENANTS` says otherwise."""
    verify_tenant_sms_per_day: int = Field(default=10000, ge=1, le=MOST_PER_WINDOW)
    """Texts one tenant may send per UTC day unless `TWOSTEP_VERIFY_TENANTS` says otherwise."""
    verify_default_length: int = Field(default=6, ge=4, le=10)
    """Digits in a verification code when the request gives no `code_length`."""
    verify_default_ttl_seconds: int = Field(default=600, ge=30)
    """Lifetime of a verification code when the request gives no `expiration`."""
    verify_max_ttl_seconds: int = Field(default=600, ge=30, le=86400)
    """The longest `expiration` a request may ask for."""
    verify_default_retries: int = Field(default=3, ge=1, le=10)
    """Wrong codes allowed per verification when the request gives no `retries`."""
    verify_template: str = DEFAULT_VERIFY_TEMPLATE
    """The verification SMS text; must contain `{code}`; may use `{org}` and `{minutes}`, and nothing else in
    braces (as `TWOSTEP_SMS_TEMPLATE`)."""
    verify_compat: Literal["twostep", "flowroute"] = "twostep"
    """`flowroute`: `twostep serve --app verification` answers as Flowroute's sms-verification did (400 for
    every failed check and bad request, its messages and body keys); `twostep`: precise statuses (401, 404,
    410, 429)."""
    test_numbers: CommaList = Field(default_factory=_no_items)
    """Comma-separated `+number:code` entries (`+14155550100:123456`): these numbers always get that code
    and are never texted (app-store reviewers, smoke tests); limits and lock-outs still apply. Refused in
    prod."""

    _split = field_validator(
        "cors_origins",
        "trusted_proxies",
        "sms_providers",
        "channel_providers",
        "sms_allowed_countries",
        "verify_api_keys",
        "sms_allowed_number_types",
        "sms_safe_list",
        "sms_prices",
        "sms_country_budgets",
        "webauthn_origins",
        "test_numbers",
        "fallback_channels",
        "sms_max_segments_by_language",
        mode="before",
    )(_split_commas)

    @field_validator("cors_origins")
    @classmethod
    def _browser_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            _check_browser_origin(origin)
        return value

    @field_validator("web_origin", mode="before")
    @classmethod
    def _web_origin(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None  # an empty compose variable means unset
        return _page_origins([value])[0] if isinstance(value, str) else value

    @field_validator("api_base_path", mode="before")
    @classmethod
    def _api_base_path(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        path = value.strip().rstrip("/")
        if not path:
            return None  # unset, empty or `/`: routes start at the root
        if not BASE_PATH.fullmatch(path):
            raise ValueError("a path such as /auth: segments of letters, digits, `.`, `_`, `~` or `-`")
        return path

    @field_validator("webauthn_origins")
    @classmethod
    def _passkey_origins(cls, value: list[str]) -> list[str]:
        return _page_origins(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        # Before, any text was taken: a host name or a bad mask was silently trusted as nothing (every client
        # behind the proxy shared its limits), and `*` made uvicorn believe every caller's X-Forwarded-For,
        # so a client named a new address per request and the per-IP limits never held.
        if not value:
            return value  # validated by default too: ipaddress only when set (a Lambda reads no proxies)
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (10.0.0.0/8); name each proxy, not `*` or a host"
                ) from None
        return value

    @field_validator("default_locale")
    @classmethod
    def _locale_tag(cls, value: str) -> str:
        if not LOCALE_TAG.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a language tag such as en, de or pt-BR")
        return value.strip()

    @field_validator("sms_max_segments_by_language")
    @classmethod
    def _language_budgets(cls, value: list[str]) -> list[str]:
        parse_language_budgets(value)
        return value

    @field_validator("android_app_hash", mode="before")
    @classmethod
    def _app_hash(cls, value: object) -> object:
        if value in ("", None):
            return None
        if not isinstance(value, str) or not APP_HASH.fullmatch(value):
            raise ValueError("the SMS Retriever app hash is 11 characters of A-Z, a-z, 0-9, + and /")
        return value

    @field_validator(
        "api_docs",
        "password_hash_threads",
        "session_idle_lifetime_seconds",
        "kms_key_id",
        "sms_budget_hourly_usd",
        "sms_budget_daily_usd",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # As most settings take it (a compose file's `${VAR:-}`). Before, the first three stopped the start;
        # `twostep keys rotate` asked KMS to seal with a key ""; and an empty budget, documented as "no
        # limit", was not a number, so no limit could be set from the environment at all.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("otp_hmac_key", mode="before")
    @classmethod
    def _code_hmac_key(cls, value: object) -> object:
        # Empty means unset (a compose file's `${TWOSTEP_OTP_HMAC_KEY:-}`): before, it was a key of no bytes,
        # so every code's HMAC at rest could be recomputed by anyone holding a copy of the database.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text == "":
            return None
        if isinstance(text, str) and len(text.encode()) < 32:
            # A short key made the HMAC of a 6-digit code no protection: with a copy of the database, key and
            # code together could be guessed offline. Same floor as TWOSTEP_JWT_HS256_SECRET's.
            raise ValueError("at least 32 bytes (`openssl rand -base64 32` makes one)")
        return value

    @field_validator("verify_compat", mode="before")
    @classmethod
    def _compat_default(cls, value: object) -> object:
        return "twostep" if value in ("", None) else value  # an empty compose variable means the default

    @field_validator("test_numbers")
    @classmethod
    def _test_number_entries(cls, value: list[str]) -> list[str]:
        from twostep.services.test_numbers import parse_test_number  # phonenumbers only when set

        for entry in value:
            parse_test_number(entry)
        return value

    @field_validator("verify_tenants", mode="before")
    @classmethod
    def _tenants_json(cls, value: object) -> object:
        # A JSON string from the environment, a `.env` file or the AWS secret.
        if not isinstance(value, str):
            return value
        if not value.strip():
            return {}  # an empty compose variable means no tenant settings
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:  # the message names where, never the value (it may hold a secret)
            raise ValueError(
                f"not a JSON object of tenants ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None

    @field_validator("sms_allowed_number_types")
    @classmethod
    def _known_number_types(cls, value: list[str]) -> list[str]:
        if not value:
            # Empty is unset (an empty compose variable): before, no types meant every type, so premium-rate
            # and satellite numbers, where pumping goes, were texted.
            return list(DEFAULT_ALLOWED_TYPES)
        types = [name.upper() for name in value]
        unknown = [name for name in types if name not in NUMBER_TYPES]
        if unknown:
            raise ValueError(f"unknown number type(s) {', '.join(unknown)}; use {', '.join(NUMBER_TYPES)}")
        return types

    @field_validator("sms_safe_list")
    @classmethod
    def _safe_entries(cls, value: list[str]) -> list[str]:
        # The guard compares entries with numbers in E.164 form, character by character: an entry in any
        # other spelling of a number (full-width digits, a national trunk 0 as in +44 07911…) was taken
        # and then never matched, so the number it names could still be blocked.
        from twostep.domain.errors import InvalidPhoneNumber
        from twostep.domain.identity import parse_phone  # phonenumbers only when set

        for entry in value:
            if not (entry.startswith("+") and entry[1:].isascii() and entry[1:].isdigit()):
                raise ValueError(f"{entry!r} is not an E.164 number or prefix like +49151")
            try:
                number = parse_phone(entry)
            except InvalidPhoneNumber:
                continue  # a prefix (or no number at all): nothing to compare it with
            if number != entry:
                raise ValueError(f"{entry!r} is the number {number} in E.164 form, which the guard compares")
        return value

    @field_validator("sms_prices")
    @classmethod
    def _prices(cls, value: list[str]) -> list[str]:
        parse_country_amounts(value, parts=1)
        return value

    @field_validator("sms_country_budgets")
    @classmethod
    def _country_budgets(cls, value: list[str]) -> list[str]:
        parse_country_amounts(value, parts=2)
        return value

    @field_validator("verify_api_keys")
    @classmethod
    def _key_entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            tenant, _, key = entry.rpartition(":") if ":" in entry else ("default", "", entry)
            if not key or (":" in entry and not TENANT_NAME.fullmatch(tenant)):
                raise ValueError("each entry is `tenant:key` (tenant: letters, digits, - and _) or a key")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """pydantic-settings' sources in its order, less a `.env` source that found no variable (no file, as
        in a Lambda or a container): it gives nothing, yet walked all fields (half of `Settings()`)."""
        empty_dotenv = isinstance(dotenv_settings, DotEnvSettingsSource) and not dotenv_settings.env_vars
        if empty_dotenv:
            return init_settings, env_settings, file_secret_settings
        return init_settings, env_settings, dotenv_settings, file_secret_settings

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

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _http_base_url(value, "use the base URL providers reach, like https://auth.example.com")

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        # `auth.example.com` or an empty value was taken: the discovery document then named a jwks_uri that
        # is no URL, so OpenID clients and API Gateway's JWT authorizer found no keys. Checked, never
        # rewritten: the value is every token's `iss`, which verifiers compare exactly.
        advice = "use the service's base URL with its scheme, like https://auth.example.com"
        if value != value.strip() or _http_base_url(value, advice) != value.rstrip("/"):
            raise ValueError(advice)
        return value

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        # An empty one was taken: the server signed tokens in, then refused every access token it issued.
        if not value.strip():
            raise ValueError("name the API the tokens are for, like twostep-api")
        return value

    @field_validator("dynamodb_table")
    @classmethod
    def _table_name(cls, value: str) -> str:
        # An empty or misspelt name started as "Storage is unavailable; try again shortly" (exit 4), a
        # transient failure to wait out, where no retry could ever succeed.
        if not DYNAMODB_TABLE_NAME.fullmatch(value):
            raise ValueError("a DynamoDB table name is 3 to 255 letters, digits, _, - and .")
        return value

    @field_validator("org_name")
    @classmethod
    def _org_name(cls, value: str) -> str:
        # The name is in every email's subject: a line break (or any control character) in it raised
        # ValueError at the first email (headers may not break lines), and no email ever went out.
        if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
            raise ValueError("use a name without line breaks or control characters")
        return value

    @field_validator("email_from")
    @classmethod
    def _sender_address(cls, value: str) -> str:
        # Any text was taken: `example.com`, `no-reply at example.com` or an empty value went out as the
        # envelope sender `example.com`, `no-reply` or `<>` (bounces lost), which strict relays and SES refuse,
        # so reset codes and notices failed long after a clean start.
        return _email_address(value, "twostep <no-reply@example.com>")

    @field_validator("email_reply_to", mode="before")
    @classmethod
    def _reply_address(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None  # an empty compose variable means unset
        return _email_address(value, "Support <help@example.com>") if isinstance(value, str) else value

    @field_validator("twilio_base_url", "flowroute_base_url", "sipgate_base_url")
    @classmethod
    def _provider_base_url(cls, value: str) -> str:
        # `api.twilio.com` (no scheme) was taken, and every text then failed (httpx: UnsupportedProtocol),
        # so every sign-in answered 503 from a server that had started cleanly.
        return _http_base_url(
            value, "use the provider's API base URL with its scheme, like https://api.twilio.com"
        )

    @field_validator("receipt_secret", mode="before")
    @classmethod
    def _receipt_secret(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text in ("", None):
            return None
        if isinstance(text, str) and (len(text) < 24 or not re.fullmatch(r"[A-Za-z0-9_-]+", text)):
            raise ValueError("use at least 24 letters, digits, - or _ (it goes into a URL)")
        return value

    @field_validator("channel_providers")
    @classmethod
    def _known_channels(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            registry.parse_channel_providers(value)
        return value

    @field_validator("fallback_channels")
    @classmethod
    def _fallback_channels(cls, value: list[str]) -> list[str]:
        channels = [name.strip().lower() for name in value]
        others = registry.channel_names()[1:]
        unknown = [name for name in channels if name not in others]
        if unknown:
            raise ValueError(f"unknown channel(s) {', '.join(unknown)}; use {', '.join(others)}")
        return channels

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _metrics_token(cls, value: object) -> object:
        """Empty means unset (a compose file's `${TWOSTEP_METRICS_TOKEN:-}`); a set one is long enough."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text in ("", None):
            return None
        if isinstance(text, str) and len(text) < 16:
            raise ValueError("use at least 16 characters (or leave it unset for loopback-only metrics)")
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
        # A code no number has (`UK` for GB, `USA`, `D`) was taken and matched no phone: texts to the
        # countries meant were all refused (`country_not_allowed`), sign-ups among them.
        if not value:
            return value  # validated by default too: phonenumbers (~10 ms) only when set
        from phonenumbers import SUPPORTED_REGIONS

        codes = [code.upper() for code in value]
        unknown = [code for code in codes if code not in SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not an ISO 3166 country code with phone numbers (DE, GB, US)"
            )
        return codes

    @field_validator("sms_template", "verify_template")
    @classmethod
    def _usable_template(cls, value: str) -> str:
        problem = template_problem(value)
        if problem:
            raise ValueError(problem)
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
        if self.stage == "prod":
            _refuse_dev_providers(self)
        if self.key_activation_delay_seconds < self.keys_refresh_seconds:
            raise ValueError(
                "TWOSTEP_KEY_ACTIVATION_DELAY_SECONDS must be at least TWOSTEP_KEYS_REFRESH_SECONDS, so that "
                "every server knows a new key before any server signs with it"
            )
        if self.master_key is not None and len(self.master_key.get_secret_value()) < 32:
            raise ValueError("TWOSTEP_MASTER_KEY must be at least 32 characters")
        _check_master_keys(self)
        if self.stage == "prod" and self.test_numbers:
            raise ValueError("TWOSTEP_TEST_NUMBERS: test numbers (fixed codes) are refused in prod")
        if self.storage == "postgres":
            _check_database_url(self.database_url)
        if self.verify_default_ttl_seconds > self.verify_max_ttl_seconds:
            raise ValueError("TWOSTEP_VERIFY_DEFAULT_TTL_SECONDS exceeds TWOSTEP_VERIFY_MAX_TTL_SECONDS")
        _check_idle_lifetime(self)
        _check_fallback_channels(self)
        _check_passkey_origins(self)
        _fit_reset_budgets(self)
        return self


def _email_address(value: str, example: str) -> str:
    """`value` if it is one address, optionally with a display name. Raises: ValueError showing `example`."""
    from email.utils import parseaddr  # loaded with pydantic's e-mail support already

    address = parseaddr(value, strict=True)[1] if "\n" not in value and "\r" not in value else ""
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or any(c.isspace() for c in address):
        raise ValueError(f"use an address, optionally with a name: {example}")
    return value


def _check_master_keys(settings: Settings) -> None:
    """Raises: ValueError naming the setting whose master key (or previous one) cannot be used."""
    if settings.master_key is not None and settings.master_key_file is not None:
        # One would be ignored: a key put in the file (a new one, say) would silently not be the one used.
        raise ValueError("TWOSTEP_MASTER_KEY: set it or TWOSTEP_MASTER_KEY_FILE, not both")
    previous = settings.master_key_previous
    if previous is not None and settings.master_key_previous_file is not None:
        raise ValueError("TWOSTEP_MASTER_KEY_PREVIOUS: set it or TWOSTEP_MASTER_KEY_PREVIOUS_FILE, not both")
    if previous is not None and len(previous.get_secret_value()) < 32:
        raise ValueError("TWOSTEP_MASTER_KEY_PREVIOUS must be at least 32 characters")
    configured = settings.master_key is not None or settings.master_key_file is not None
    if not configured and (previous is not None or settings.master_key_previous_file is not None):
        # Without a configured key the process seals with dev's (the file beside an SQLite database, whose
        # rotation keeps the replaced one in `.previous`): this key was then read instead of `.previous`,
        # and a dev rotation moved its key aside, could not re-seal, and left every start refused.
        raise ValueError(
            "TWOSTEP_MASTER_KEY_PREVIOUS: names the key TWOSTEP_MASTER_KEY (or TWOSTEP_MASTER_KEY_FILE) "
            "replaces; set that too, or unset this (dev on SQLite keeps the replaced key in .master-key.previous)"
        )
    if previous is not None and settings.master_key is not None and previous == settings.master_key:
        raise ValueError(
            "TWOSTEP_MASTER_KEY_PREVIOUS: the same as TWOSTEP_MASTER_KEY; it names the key being replaced"
        )
    if settings.secret_arn and (previous is not None or settings.master_key_previous_file is not None):
        raise ValueError(
            "TWOSTEP_MASTER_KEY_PREVIOUS: with TWOSTEP_SECRET_ARN the keys are in the secret, sealed by KMS, "
            "and no master key is used"
        )


def _refuse_dev_providers(settings: Settings) -> None:
    for channel, names in registry.configured(settings).items():
        variable = "TWOSTEP_SMS_PROVIDERS" if channel == registry.SMS else "TWOSTEP_CHANNEL_PROVIDERS"
        for name in names:
            if registry.PROVIDERS[name].dev_only:
                raise ValueError(f"{variable}: the {name} provider is refused in prod")


def _fit_reset_budgets(settings: Settings) -> None:
    """Keep the reset budgets (newer settings) inside the caps they stand for (older ones).

    Contradicting values started silently: a client's share above the email's total is no share, and more
    resets a day than the account's or the number's text caps let strangers' resets spend the owner's
    sign-in texts again. A value the operator set is refused; an unset one is lowered to fit, so a
    deployment that set only the older caps still starts.

    Raises:
        ValueError: naming the reset setting that contradicts the cap it must stay inside.
    """
    chosen = settings.model_fields_set
    text_caps = (
        ("TWOSTEP_ACCOUNT_SMS_PER_DAY", settings.account_sms_per_day),
        ("TWOSTEP_SMS_PER_NUMBER_10MIN", settings.sms_per_number_10min),
        ("TWOSTEP_SMS_PER_NUMBER_DAY", settings.sms_per_number_day),
    )
    # Below each cap, so strangers' resets leave the owner a sign-in text; a cap of 1 leaves no room below.
    most_requests = max(1, min(cap for _, cap in text_caps) - 1)
    if "reset_requests_per_day" not in chosen:
        _lower_default(settings, "reset_requests_per_day", most_requests)
    elif settings.reset_requests_per_day > most_requests:
        name, cap = min(text_caps, key=lambda item: item[1])
        raise ValueError(
            f"TWOSTEP_RESET_REQUESTS_PER_DAY must be below {name} ({cap}), or strangers asking for resets "
            "spend the owner's sign-in texts"
        )
    _fit_client_share(
        settings, "reset_requests_per_client_day", settings.reset_requests_per_day, "TWOSTEP_RESET_REQUESTS"
    )
    _fit_client_share(
        settings,
        "reset_code_failures_per_client_day",
        settings.reset_code_failures_per_day,
        "TWOSTEP_RESET_CODE_FAILURES",
    )


def _fit_client_share(settings: Settings, field: str, total: int, variable: str) -> None:
    """An unset share becomes at most half the email's total (rounded up: 10 gives 5, 3 gives 2, the
    defaults); a share set above the total is refused."""
    share: int = getattr(settings, field)
    if field not in settings.model_fields_set:
        _lower_default(settings, field, (total + 1) // 2)
    elif share > total:
        raise ValueError(
            f"{variable}_PER_CLIENT_DAY ({share}) exceeds {variable}_PER_DAY ({total}), the email's total "
            "that a client's share is part of"
        )


def _lower_default(settings: Settings, field: str, most: int) -> None:
    # Written past pydantic's attribute hook, which would mark it set: it stays the default, only lowered.
    settings.__dict__[field] = min(getattr(settings, field), most)


def _check_idle_lifetime(settings: Settings) -> None:
    """An idle lifetime a client refreshing on time could not meet, or one that never ends a session."""
    idle = settings.session_idle_lifetime_seconds
    if idle is None:
        return
    if idle <= settings.access_token_ttl_seconds:
        raise ValueError(
            "TWOSTEP_SESSION_IDLE_LIFETIME_SECONDS must be longer than TWOSTEP_ACCESS_TOKEN_TTL_SECONDS: a "
            "client that refreshes only as its access token expires would be signed out"
        )
    if idle >= settings.refresh_token_ttl_seconds:
        raise ValueError(
            "TWOSTEP_SESSION_IDLE_LIFETIME_SECONDS must be shorter than TWOSTEP_REFRESH_TOKEN_TTL_SECONDS "
            "(the absolute lifetime), or it never ends a session"
        )


def _check_fallback_channels(settings: Settings) -> None:
    """Raises: ValueError when no listed fallback channel has a provider. Before, such a deployment started
    and then only recorded every failed text: no fallback, no audit line, no warning."""
    channels = settings.fallback_channels
    if not channels:
        return
    carried = registry.configured(settings)
    if not any(carried.get(channel) for channel in channels):
        raise ValueError(
            f"TWOSTEP_FALLBACK_CHANNELS: no provider carries {' or '.join(channels)}; name one in "
            f"TWOSTEP_CHANNEL_PROVIDERS ({channels[0]}:twilio), or leave this empty"
        )


def _check_passkey_origins(settings: Settings) -> None:
    """Browsers refuse a passkey whose RP id is not the page's host or a parent domain of it."""
    origins = settings.webauthn_origins or ([settings.web_origin] if settings.web_origin else [])
    rp_id = settings.webauthn_rp_id
    if not rp_id:
        return
    for origin in origins:
        host = urlsplit(origin).hostname or ""
        if host != rp_id and not host.endswith("." + rp_id):
            raise ValueError(f"TWOSTEP_WEBAUTHN_RP_ID: {rp_id} is not {host} or a parent domain of it")


def _page_origins(origins: list[str]) -> list[str]:
    """The web app's page origins (passkeys, WebOTP), each as a browser sends it; a trailing slash, which
    the passkey check always dropped, is dropped. Before, `auth.example.com`, `https://Auth.Example.com` or a
    path was taken: passkeys then failed for every user (an empty RP id, or no origin a browser reports).

    Raises: ValueError naming the origin (and the spelling that would match, when there is one).
    """
    cleaned = [origin.strip().rstrip("/") for origin in origins]
    for origin in cleaned:
        if origin == "*":
            raise ValueError("name the web app's origins; `*` only suits TWOSTEP_CORS_ORIGINS")
        _check_browser_origin(origin)
    return cleaned


def _check_browser_origin(origin: str) -> None:
    """An origin exactly as a browser's `Origin` header carries it (CORS compares the strings, so any other
    spelling matches nothing), or `*`: every origin, without credentials (`api.app._credentials_allowed`).

    Raises: ValueError saying why, and the spelling that would match when there is one.
    """
    if origin == "*":
        return
    canonical = _serialised_origin(origin)
    if canonical is None:
        raise ValueError(f"{origin!r} is not an origin: write scheme://host[:port] (https://app.example.com)")
    if canonical != origin:
        raise ValueError(
            f"{origin!r}: browsers send this origin as {canonical}; write it so, or it never matches"
        )


def _serialised_origin(origin: str) -> str | None:
    """How a browser writes the origin of `origin` (RFC 6454), or None when it names none."""
    parts = urlsplit(origin)
    try:
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    extra = parts.path.strip("/") or parts.query or parts.fragment or parts.username is not None
    if parts.scheme not in ("http", "https") or not host or extra:
        return None
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def _http_base_url(value: str, advice: str) -> str:
    """`value` as a base URL to append paths to: http(s), a host, no query or fragment, no trailing slash.

    Raises: ValueError with `advice`.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(advice)
    return value.strip().rstrip("/")


def _check_database_url(url: SecretStr | None) -> None:
    """Raises ValueError naming the variable, never echoing the URL (it may hold a password)."""
    if url is None or not url.get_secret_value().strip():
        raise ValueError("TWOSTEP_DATABASE_URL is needed when TWOSTEP_STORAGE=postgres")
    if not url.get_secret_value().startswith(("postgresql://", "postgres://")):
        raise ValueError("TWOSTEP_DATABASE_URL must start with postgresql://")


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first offending variable, for a clean start-up failure."""
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return f"invalid configuration: {message}"
    variable, *inside = (str(part) for part in first["loc"])
    # Only the variable is upper-case; what follows (a tenant's name, a JSON key) is shown as it was
    # written, so the operator finds it in their configuration.
    return ".".join([f"TWOSTEP_{variable.upper()}", *inside]) + f": {message}"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and `.env`), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
