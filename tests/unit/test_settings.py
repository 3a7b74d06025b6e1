"""Settings: defaults, comma lists, and one clear line for a bad value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.conftest import settings_for_tests
from twostep.container import Container, housekeeping_policy, revocation_window_seconds
from twostep.domain.clock import FixedClock
from twostep.domain.errors import ConfigurationError
from twostep.email import refuse_console_email_in_prod
from twostep.services.housekeeping import HousekeepingPolicy, HousekeepingService
from twostep.settings import Settings, describe_validation_error
from twostep.storage.memory import MemoryStorage


def _error(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **values)  # type: ignore[call-arg]
    return describe_validation_error(caught.value)


def test_defaults() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.stage, s.storage, s.otp_length, s.otp_ttl_seconds, s.otp_max_attempts) == (
        "dev",
        "sqlite",
        6,
        120,
        5,
    )
    assert (s.jwt_algorithm, s.access_token_ttl_seconds, s.require_second_factor) == ("RS256", 900, True)
    assert s.sms_providers == ["console"]


def test_env_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOSTEP_SMS_PROVIDERS", "twilio, sns")
    monkeypatch.setenv("TWOSTEP_SMS_ALLOWED_COUNTRIES", "de,tr")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.sms_providers == ["twilio", "sns"] and s.sms_allowed_countries == ["DE", "TR"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"otp_length": 3}, "TWOSTEP_OTP_LENGTH: Input should be greater than or equal to 4"),
        ({"otp_length": 11}, "TWOSTEP_OTP_LENGTH: Input should be less than or equal to 10"),
        ({"passkey_limit": 0}, "TWOSTEP_PASSKEY_LIMIT: Input should be greater than or equal to 1"),
        ({"passkey_limit": 101}, "TWOSTEP_PASSKEY_LIMIT: Input should be less than or equal to 100"),
        ({"sms_providers": "pigeon"}, "TWOSTEP_SMS_PROVIDERS: unknown provider(s) pigeon"),
        ({"argon2_memory_kib": 1024}, "TWOSTEP_ARGON2_MEMORY_KIB"),
        ({"sms_template": "no code here"}, "TWOSTEP_SMS_TEMPLATE: the template must contain {code}"),
        # A misspelt placeholder went out to every recipient as written.
        ({"sms_template": "{code}, {minute} min"}, "TWOSTEP_SMS_TEMPLATE: {minute}: no such placeholder"),
        ({"verify_template": "{Code} is {code}"}, "TWOSTEP_VERIFY_TEMPLATE: {Code}: no such placeholder"),
        (
            {"verify_tenants": '{"shop": {"template": "{code} for {shop}"}}'},
            "TWOSTEP_VERIFY_TENANTS.shop.template: {shop}: no such placeholder",
        ),
        ({"stage": "prod"}, "the console provider is refused in prod"),
        ({"email_provider": "pigeon"}, "TWOSTEP_EMAIL_PROVIDER"),
        ({"jwt_algorithm": "HS256", "jwt_hs256_secret": "short"}, "at least 32 bytes"),
        ({"api_base_path": "auth"}, "TWOSTEP_API_BASE_PATH: a path such as /auth"),
        ({"api_base_path": "/my auth"}, "TWOSTEP_API_BASE_PATH: a path such as /auth"),
    ],
)
def test_bad_values_name_the_variable(values: dict[str, object], expected: str) -> None:
    line = _error(**values)
    assert expected in line
    assert "\n" not in line


def test_prod_settings_leave_the_email_provider_to_the_app_that_sends_email() -> None:
    """Before, the settings refused the console email provider in prod for every app, so the verification
    app, which sends no email, would not start without an SMTP relay or SES it never used. The settings
    now accept it; the API (`refuse_console_email_in_prod`, called where it is built) still refuses it."""
    settings = Settings(_env_file=None, stage="prod", sms_providers="sns")  # type: ignore[call-arg]
    assert settings.email_provider == "console"
    with pytest.raises(ConfigurationError) as caught:
        refuse_console_email_in_prod(settings)
    assert caught.value.message == "TWOSTEP_EMAIL_PROVIDER: the console provider is refused in prod"
    refuse_console_email_in_prod(settings.model_copy(update={"email_provider": "ses"}))
    refuse_console_email_in_prod(Settings(_env_file=None))  # type: ignore[call-arg]  # dev


def test_rsa_key_size_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOSTEP_JWT_RSA_BITS", "3072")
    assert Settings(_env_file=None).jwt_rsa_bits == 3072  # type: ignore[call-arg]
    assert "TWOSTEP_JWT_RSA_BITS: Input should be 2048, 3072 or 4096" in _error(jwt_rsa_bits=1024)


def test_dot_env_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`.env` in the working folder is one of the sources (it is dropped only when it gave nothing)."""
    monkeypatch.chdir(tmp_path)
    for name in ("TWOSTEP_OTP_LENGTH", "TWOSTEP_ORG_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().otp_length == 6  # no .env
    (tmp_path / ".env").write_text("")
    assert Settings().otp_length == 6
    (tmp_path / ".env").write_text("TWOSTEP_OTP_LENGTH=8\nTWOSTEP_ORG_NAME=From Dot Env\n")
    assert (Settings().otp_length, Settings().org_name) == (8, "From Dot Env")
    monkeypatch.setenv("TWOSTEP_OTP_LENGTH", "7")
    assert (Settings().otp_length, Settings().org_name) == (7, "From Dot Env")
    (tmp_path / ".env").write_text("TWOSTEP_OTP_LENGTH=99\n")
    monkeypatch.delenv("TWOSTEP_OTP_LENGTH")
    with pytest.raises(ValidationError):
        Settings()


def test_housekeeping_keeps_revocations_for_the_longest_window_the_settings_allow() -> None:
    """A revocation-list entry must outlive the access tokens of its session. Grace and token lifetime
    were never compared: with a 300 s grace, a logout's entry went after five minutes while its 15-minute
    tokens lived on. The purge keeps entries for the list's look-back; its default covers the largest
    lifetime and leeway the settings accept."""
    longest = Settings(_env_file=None, access_token_ttl_seconds=3600, jwt_leeway_seconds=300)  # type: ignore[call-arg]
    assert revocation_window_seconds(longest) <= HousekeepingPolicy().revocation_window_seconds
    _error(access_token_ttl_seconds=3601)
    _error(jwt_leeway_seconds=301)
    short_grace = Settings(_env_file=None, purge_grace_seconds=300)  # type: ignore[call-arg]
    policy = housekeeping_policy(short_grace)
    assert policy.revocation_window_seconds == revocation_window_seconds(short_grace) > 300
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rules = HousekeepingService(MemoryStorage(), FixedClock(now), policy).rules()
    assert rules.revocations_before == now - timedelta(seconds=policy.revocation_window_seconds)
    assert rules.refresh_before == now - timedelta(seconds=300)


def test_the_idle_lifetime_is_off_by_default_and_refused_where_it_would_sign_out_on_time_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, there was no idle lifetime to set (the variable was ignored): a session idle for hours
    refreshed until its absolute end. Now it is opt-in, and a value a client refreshing as its access
    token expires could not meet, or one that never ends a session, is refused at start-up."""
    assert Settings(_env_file=None).session_idle_lifetime_seconds is None  # type: ignore[call-arg]
    monkeypatch.setenv("TWOSTEP_SESSION_IDLE_LIFETIME_SECONDS", "1800")
    assert Settings(_env_file=None).session_idle_lifetime_seconds == 1800  # type: ignore[call-arg]
    monkeypatch.delenv("TWOSTEP_SESSION_IDLE_LIFETIME_SECONDS")
    too_short = _error(session_idle_lifetime_seconds=900)  # the access token's default lifetime
    assert too_short.startswith("invalid configuration: TWOSTEP_SESSION_IDLE_LIFETIME_SECONDS must be longer")
    assert "TWOSTEP_ACCESS_TOKEN_TTL_SECONDS" in too_short
    assert "shorter than TWOSTEP_REFRESH_TOKEN_TTL_SECONDS" in _error(
        session_idle_lifetime_seconds=3600, refresh_token_ttl_seconds=3600
    )
    assert _error(session_idle_lifetime_seconds=120, access_token_ttl_seconds=60).startswith(
        "TWOSTEP_SESSION_IDLE_LIFETIME_SECONDS: Input should be greater than or equal to 300"
    )
    allowed = Settings(_env_file=None, session_idle_lifetime_seconds=3600)  # type: ignore[call-arg]
    assert allowed.session_idle_lifetime_seconds == 3600


@pytest.mark.parametrize("value", ["shop", "{'shop': {}}", '{"shop": {"sms_per_hour": 5}'])
def test_verify_tenants_that_are_not_json_stop_with_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """TWOSTEP_VERIFY_TENANTS that was not JSON raised pydantic-settings' SettingsError, which no entry point
    expects: `twostep serve` stopped with a traceback and exit code 1 instead of one line naming it."""
    monkeypatch.setenv("TWOSTEP_VERIFY_TENANTS", value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    line = describe_validation_error(caught.value)
    assert line.startswith("TWOSTEP_VERIFY_TENANTS: not a JSON object of tenants (")
    assert value not in line


def test_verify_tenants_empty_or_json_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty variable (a compose file's `${TWOSTEP_VERIFY_TENANTS:-}`) means no tenant settings."""
    monkeypatch.setenv("TWOSTEP_VERIFY_TENANTS", " ")
    assert Settings(_env_file=None).verify_tenants == {}  # type: ignore[call-arg]
    monkeypatch.setenv("TWOSTEP_VERIFY_TENANTS", '{"shop": {"sms_per_hour": 5}}')
    assert Settings(_env_file=None).verify_tenants["shop"].sms_per_hour == 5  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TWOSTEP_IP_LOGIN_PER_MINUTE", "99999999999999999999"),
        ("TWOSTEP_IP_REGISTER_PER_HOUR", "99999999999999999999"),
        ("TWOSTEP_IP_VERIFY_CREATE_PER_HOUR", "99999999999999999999"),
        ("TWOSTEP_IP_SMS_PER_HOUR", "99999999999999999999"),
        ("TWOSTEP_ACCOUNT_SMS_PER_DAY", "99999999999999999999"),
        ("TWOSTEP_SMS_HOURLY_BUDGET", "99999999999999999999"),
        ("TWOSTEP_FRAUD_MIN_SENDS", "99999999999999999999"),
        ("TWOSTEP_VERIFY_TENANT_SMS_PER_HOUR", "99999999999999999999"),
        ("TWOSTEP_VERIFY_TENANT_SMS_PER_DAY", "99999999999999999999"),
        ("TWOSTEP_SMS_BUDGET_HOURLY_USD", "inf"),
        ("TWOSTEP_SMS_BUDGET_DAILY_USD", "1e300"),
        ("TWOSTEP_SMS_PRICES", "DE:inf"),
        ("TWOSTEP_SMS_PRICES", "*:1e300"),
        ("TWOSTEP_SMS_COUNTRY_BUDGETS", "US:2/inf"),
        ("TWOSTEP_VERIFY_TENANTS", '{"shop": {"sms_per_day": 99999999999999999999}}'),
    ],
)
def test_caps_and_money_past_a_64_bit_counter_stop_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Caps and US-dollar budgets had no upper bound: `inf` or a 20-digit cap started the server, then every
    sign-in or text that counted against it (64-bit counters, micro-dollars) failed with 500 OverflowError,
    and an infinite hourly budget crashed the start with a traceback."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert describe_validation_error(caught.value).startswith(variable)


def test_a_bad_tenant_setting_names_the_tenant_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, the start-up line upper-cased the whole place of a bad value, tenant included:
    `TWOSTEP_VERIFY_TENANTS.ACMESHOP.SMS_PER_HOUR`, a tenant and a key found nowhere in the configuration
    (tenant names are case-sensitive). Only the variable is upper-case now."""
    monkeypatch.setenv("TWOSTEP_VERIFY_TENANTS", '{"AcmeShop": {"sms_per_hour": 0}}')
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    line = describe_validation_error(caught.value)
    assert line.startswith("TWOSTEP_VERIFY_TENANTS.AcmeShop.sms_per_hour: "), line


def test_the_largest_cap_and_budget_still_count_in_64_bits() -> None:
    """The bounds leave room: the largest cap and budget fit the counters with every multiplier applied."""
    from twostep.services.sms_prices import to_micro
    from twostep.settings import MOST_PER_WINDOW, MOST_USD

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        ip_sms_per_hour=MOST_PER_WINDOW,
        sms_budget_daily_usd=MOST_USD,
        sms_prices=f"*:{MOST_USD}",
    )
    most_segments = 10 * settings.voice_call_units * 20  # segments x a call's units, far above real
    assert to_micro(MOST_USD) * most_segments < 2**63 and settings.ip_sms_per_hour * 2 < 2**63


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TWOSTEP_ARGON2_MEMORY_KIB", "4294967296"), ("TWOSTEP_ARGON2_TIME_COST", "99999999999999999999")],
)
def test_argon2_costs_past_what_libargon2_takes_stop_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """The Argon2id memory and time costs had no upper bound: a value past 32 bits started the server, then
    every sign-up and sign-in failed with 500 (OverflowError in the hasher)."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert describe_validation_error(caught.value).startswith(f"{variable}: Input should be less than")


@pytest.mark.parametrize("value", ["UK", "de,USA", "D", "XX"])
def test_allowed_countries_no_number_has_stop_at_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """TWOSTEP_SMS_ALLOWED_COUNTRIES took any text: `UK` (for GB) or `USA` started the server, matched no
    phone number, and every sign-up and code to the countries meant was refused (`country_not_allowed`)."""
    monkeypatch.setenv("TWOSTEP_SMS_ALLOWED_COUNTRIES", value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert describe_validation_error(caught.value).startswith("TWOSTEP_SMS_ALLOWED_COUNTRIES: ")


@pytest.mark.parametrize("field", ["twilio_base_url", "flowroute_base_url", "sipgate_base_url"])
@pytest.mark.parametrize("value", ["api.example.com", "", "ftp://api.example.com", "https://"])
def test_provider_base_urls_without_scheme_or_host_stop_at_start(field: str, value: str) -> None:
    """A provider base URL without `https://` (or empty) was taken: the server started, then every text
    failed (httpx UnsupportedProtocol) and every sign-in answered 503 sms_delivery_failed."""
    assert _error(**{field: value}).startswith(f"TWOSTEP_{field.upper()}: use the provider's API base URL")


def test_provider_base_urls_keep_working_spellings() -> None:
    """A test server's http URL and a trailing slash are fine; the slash goes (paths are appended)."""
    s = Settings(  # type: ignore[call-arg]
        _env_file=None, twilio_base_url="http://127.0.0.1:8081/", sipgate_base_url=" https://api.sipgate.com "
    )
    assert (s.twilio_base_url, s.sipgate_base_url) == ("http://127.0.0.1:8081", "https://api.sipgate.com")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("web_origin", "auth.example.com", "is not an origin"),
        ("web_origin", "https://auth.example.com/app", "is not an origin"),
        (
            "webauthn_origins",
            "https://Auth.Example.com",
            "browsers send this origin as https://auth.example.com",
        ),
        (
            "webauthn_origins",
            "https://app.example.com,https://auth.example.com:443",
            "as https://auth.example.com",
        ),
        ("webauthn_origins", "*", "only suits TWOSTEP_CORS_ORIGINS"),
    ],
)
def test_page_origins_no_browser_sends_stop_at_start(field: str, value: str, expected: str) -> None:
    """TWOSTEP_WEB_ORIGIN and TWOSTEP_WEBAUTHN_ORIGINS took any text: without a scheme the passkey RP id was
    empty, and an upper-case host, a default port or a path matched no browser's origin, so every passkey
    sign-up and sign-in failed on a server that had started cleanly."""
    line = _error(**{field: value})
    assert line.startswith(f"TWOSTEP_{field.upper()}: ") and expected in line


def test_page_origins_keep_a_trailing_slash_working() -> None:
    """A trailing slash was always dropped by the passkey check; it still is, now at start; empty is unset."""
    s = Settings(  # type: ignore[call-arg]
        _env_file=None, web_origin="https://auth.example.com/", webauthn_origins="https://app.example.com/"
    )
    assert (s.web_origin, s.webauthn_origins) == ("https://auth.example.com", ["https://app.example.com"])
    assert Settings(_env_file=None, web_origin=" ").web_origin is None  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["*", "lb.internal", "10.0.0.0/33", "127.0.0.1,10.0.0.1:8080"])
def test_trusted_proxies_that_are_not_addresses_stop_at_start(value: str) -> None:
    """TWOSTEP_TRUSTED_PROXIES took any text: `*` made uvicorn believe every caller's X-Forwarded-For (a
    direct client chose its address per request, past the per-IP limits), and a host name or bad mask was
    silently trusted as nothing, so every client behind the proxy shared one address's limits."""
    assert _error(trusted_proxies=value).startswith("TWOSTEP_TRUSTED_PROXIES: ")


def test_trusted_proxies_take_addresses_and_networks() -> None:
    s = Settings(_env_file=None, trusted_proxies="127.0.0.1, 10.0.0.0/8,fd00::/8,10.1.2.3/8")  # type: ignore[call-arg]
    assert s.trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "fd00::/8", "10.1.2.3/8"]


@pytest.mark.parametrize(
    "value", ["auth.example.com", "", " https://auth.example.com", "https://a.example?x=1"]
)
def test_an_issuer_that_is_no_url_stops_at_start(value: str) -> None:
    """TWOSTEP_ISSUER took any text: `auth.example.com` or an empty value started the server, whose
    discovery document then named a jwks_uri that is no URL (`auth.example.com/.well-known/jwks.json`), so
    OpenID clients and API Gateway's JWT authorizer could not find the keys."""
    assert _error(issuer=value).startswith("TWOSTEP_ISSUER: use the service's base URL with its scheme")


def test_an_issuer_is_kept_exactly_as_written() -> None:
    """The issuer is every token's `iss`: a trailing slash or a path stays, or tokens already out would fail."""
    for issuer in ("https://auth.example.com/", "https://example.com/auth", "http://127.0.0.1:8000"):
        assert Settings(_env_file=None, issuer=issuer).issuer == issuer  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "value", ["example.com", "no-reply at example.com", "", "twostep", "a@b.c\nBcc: x@y.z"]
)
def test_a_sender_that_is_no_address_stops_at_start(value: str) -> None:
    """TWOSTEP_EMAIL_FROM took any text: `example.com`, `no-reply at example.com` or an empty value went out
    as the envelope sender `example.com`, `no-reply` or `<>`, which strict relays and SES refuse, so reset
    codes and notices failed long after a clean start."""
    assert _error(email_from=value).startswith("TWOSTEP_EMAIL_FROM: use an address")


@pytest.mark.parametrize(
    "value", ["twostep <no-reply@localhost>", "no-reply@example.com", '"Shop, Inc." <a@b.de>']
)
def test_a_sender_address_with_or_without_a_name_is_taken(value: str) -> None:
    assert Settings(_env_file=None, email_from=value).email_from == value  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "value", ["Acme\r\nBcc: x@evil.example", "Acme\nBank", "Acme\tBank", "Acme\u2028Bank"]
)
def test_an_org_name_that_breaks_a_line_stops_at_start(value: str) -> None:
    """The org name is in every email's subject: with a line break it started cleanly, and every emailed
    code and notice then raised ValueError (a header may not break lines) and never went out."""
    assert _error(org_name=value).startswith("TWOSTEP_ORG_NAME: use a name without line breaks")


def test_an_org_name_in_any_script_is_taken() -> None:
    for value in ("株式会社テスト", "شركة الاختبار", "Банк «Тест»", "Shop, Inc."):
        assert Settings(_env_file=None, org_name=value).org_name == value  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["", " ", "ab", "my table", "twostep/prod"])
def test_a_dynamodb_table_name_dynamodb_refuses_stops_at_start(value: str) -> None:
    """TWOSTEP_DYNAMODB_TABLE took any text: an empty or misspelt name stopped the start only when the
    table was first read, as "Storage is unavailable; try again shortly" (exit 4), which no retry fixes."""
    assert _error(dynamodb_table=value).startswith("TWOSTEP_DYNAMODB_TABLE: a DynamoDB table name is")


def test_a_master_key_both_set_and_in_a_file_stops_at_start(tmp_path: Path) -> None:
    """Before, TWOSTEP_MASTER_KEY won and TWOSTEP_MASTER_KEY_FILE was silently ignored: a key put in the
    file (the new one of a rotation, say) was not the one used, and the next start with the file alone
    was refused for a master key other than the database's."""
    key_file = tmp_path / "master-key"
    key_file.write_text("f" * 43)
    line = _error(master_key="m" * 43, master_key_file=key_file)
    assert "TWOSTEP_MASTER_KEY: set it or TWOSTEP_MASTER_KEY_FILE, not both" in line
    assert "m" * 43 not in line and "\n" not in line
    assert Settings(_env_file=None, master_key_file=key_file).master_key_file == key_file  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"reset_code_failures_per_day": 4, "reset_code_failures_per_client_day": 9},
            "TWOSTEP_RESET_CODE_FAILURES_PER_CLIENT_DAY (9) exceeds TWOSTEP_RESET_CODE_FAILURES_PER_DAY (4)",
        ),
        (
            {"reset_requests_per_client_day": 7},
            "TWOSTEP_RESET_REQUESTS_PER_CLIENT_DAY (7) exceeds TWOSTEP_RESET_REQUESTS_PER_DAY (3)",
        ),
        (
            {"reset_requests_per_day": 10},
            "TWOSTEP_RESET_REQUESTS_PER_DAY must be below TWOSTEP_SMS_PER_NUMBER_10MIN (5)",
        ),
        (
            {"reset_requests_per_day": 4, "account_sms_per_day": 4, "sms_per_number_10min": 50},
            "TWOSTEP_RESET_REQUESTS_PER_DAY must be below TWOSTEP_ACCOUNT_SMS_PER_DAY (4)",
        ),
    ],
)
def test_reset_budgets_that_contradict_their_caps_are_refused(
    values: dict[str, object], expected: str
) -> None:
    """Before, these started silently: a client's share above the email's total is no share (one stranger
    spends the owner's resets again), and more resets a day than a text cap lets strangers' resets spend the
    owner's sign-in texts (the fault the reset-request budget fixed)."""
    line = _error(**values)
    assert expected in line
    assert "\n" not in line


def test_reset_budgets_left_unset_fit_the_caps_a_deployment_set_before() -> None:
    """Before, a deployment that had set only the older caps (an email's wrong reset codes, the number's
    and the account's texts) kept the newer budgets' defaults above them. Upgrading must not stop it, so the
    unset budgets are lowered instead: resets below every text cap, a client's share half the email's."""
    s = Settings(  # type: ignore[call-arg]
        _env_file=None, reset_code_failures_per_day=3, sms_per_number_10min=50, account_sms_per_day=3
    )
    assert (s.reset_code_failures_per_day, s.reset_code_failures_per_client_day) == (3, 2)
    assert (s.reset_requests_per_day, s.reset_requests_per_client_day) == (2, 1)
    assert "reset_requests_per_day" not in s.model_fields_set  # still the default, only lowered
    lowest = Settings(_env_file=None, sms_per_number_10min=1)  # type: ignore[call-arg]
    assert (lowest.reset_requests_per_day, lowest.reset_requests_per_client_day) == (1, 1)  # no lower
    assert (
        Settings(_env_file=None, reset_requests_per_day=1, account_sms_per_day=1).reset_requests_per_day == 1
    )  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.reset_code_failures_per_client_day, defaults.reset_requests_per_day) == (5, 3)
    assert defaults.reset_requests_per_client_day == 2


def test_an_empty_code_hmac_key_is_unset(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`TWOSTEP_OTP_HMAC_KEY=` (an empty compose variable) was taken as a key of no bytes: every code, audit
    fingerprint and pseudonym was then an HMAC anyone could recompute, so a copy of the database gave away
    codes in flight. Empty now means unset: the key set's key, as on a start without the variable."""
    own = make_container(storage="sqlite").keys.otp_hmac_key
    monkeypatch.setenv("TWOSTEP_OTP_HMAC_KEY", "")
    assert settings_for_tests(Path("unused")).otp_hmac_key is None
    assert make_container(storage="sqlite").keys.otp_hmac_key == own != b""


def test_a_short_code_hmac_key_stops_the_start() -> None:
    """A key of a few characters was taken: with a copy of the database, the key and a 6-digit code behind
    each stored HMAC could be guessed together offline. It now needs 32 bytes, as the HS256 secret does."""
    message = _error(otp_hmac_key="s" * 31)
    assert message.startswith("TWOSTEP_OTP_HMAC_KEY: ") and "32 bytes" in message
    assert "s" * 31 not in message
    assert Settings(_env_file=None, otp_hmac_key="s" * 32).otp_hmac_key is not None  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "name",
    [
        "TWOSTEP_API_DOCS",
        "TWOSTEP_PASSWORD_HASH_THREADS",
        "TWOSTEP_SESSION_IDLE_LIFETIME_SECONDS",
        "TWOSTEP_KMS_KEY_ID",
        "TWOSTEP_SMS_BUDGET_HOURLY_USD",
        "TWOSTEP_SMS_BUDGET_DAILY_USD",
    ],
)
def test_an_empty_variable_is_unset_like_most_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compose file's `${VAR:-}` sets these empty; they stopped the start (not a boolean, not a number)
    where most settings take empty as unset."""
    monkeypatch.setenv(name, "")
    assert getattr(settings_for_tests(Path("unused")), name.removeprefix("TWOSTEP_").lower()) is None


@pytest.mark.parametrize("audience", ["", "  "])
def test_an_empty_audience_stops_the_start(audience: str) -> None:
    """`TWOSTEP_AUDIENCE=` was taken: the server started and signed in, then refused every access token it
    had issued (401 on every protected route), as a token's `aud` is never empty to the verifier."""
    assert _error(audience=audience).startswith("TWOSTEP_AUDIENCE: ")


@pytest.mark.parametrize(
    ("value", "expected"), [("/auth", "/auth"), ("/v1/auth/", "/v1/auth"), ("/", None), (" ", None)]
)
def test_an_api_base_path_is_kept_without_its_trailing_slash(value: str, expected: str | None) -> None:
    assert Settings(_env_file=None, api_base_path=value).api_base_path == expected  # type: ignore[call-arg]
