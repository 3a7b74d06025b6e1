"""The policies services run with, built from `Settings` (limits, fraud guard, money budget, tenants)."""

from __future__ import annotations

from twostep.domain.errors import ConfigurationError
from twostep.domain.models import Tenant
from twostep.services.limits import BudgetPolicy, FraudPolicy, LimitPolicy
from twostep.services.sms_prices import price_table, to_micro
from twostep.services.tenants import TenantDirectory, parse_key_entries
from twostep.services.verification import VerifyPolicy
from twostep.settings import DEFAULT_VERIFY_TEMPLATE, Settings, parse_country_amounts
from twostep.text_budget import bundled_text


def limit_policy(settings: Settings) -> LimitPolicy:
    return LimitPolicy(
        resend_cooldown_seconds=settings.resend_cooldown_seconds,
        sms_per_number_10min=settings.sms_per_number_10min,
        sms_per_number_day=settings.sms_per_number_day,
        sms_hourly_budget=settings.sms_hourly_budget,
        sms_allowed_countries=tuple(settings.sms_allowed_countries),
        sms_allowed_number_types=tuple(settings.sms_allowed_number_types),
        ip_sms_per_hour=settings.ip_sms_per_hour,
        account_sms_per_day=settings.account_sms_per_day,
        login_free_failures=settings.login_free_failures,
        login_max_delay_seconds=settings.login_max_delay_seconds,
        login_account_free_failures=settings.login_account_free_failures,
        ip_login_per_minute=settings.ip_login_per_minute,
        ip_register_per_hour=settings.ip_register_per_hour,
        ip_verify_create_per_hour=settings.ip_verify_create_per_hour,
        otp_account_failure_limit=settings.otp_account_failure_limit,
        reset_code_failures_per_day=settings.reset_code_failures_per_day,
        reset_code_failures_per_client_day=settings.reset_code_failures_per_client_day,
        reset_requests_per_day=settings.reset_requests_per_day,
        reset_requests_per_client_day=settings.reset_requests_per_client_day,
    )


def fraud_policy(settings: Settings) -> FraudPolicy:
    return FraudPolicy(
        enabled=settings.fraud_guard,
        min_sends=settings.fraud_min_sends,
        min_conversion=settings.fraud_min_conversion,
        window_seconds=settings.fraud_window_seconds,
        block_seconds=settings.fraud_block_seconds,
        safe_list=tuple(settings.sms_safe_list),
    )


def budget_policy(settings: Settings) -> BudgetPolicy:
    prices = {c: v[0] for c, v in parse_country_amounts(settings.sms_prices, parts=1).items()}
    budgets = parse_country_amounts(settings.sms_country_budgets, parts=2)
    hourly, daily = settings.sms_budget_hourly_usd, settings.sms_budget_daily_usd
    return BudgetPolicy(
        prices=price_table(prices),
        hourly=None if hourly is None else to_micro(hourly),
        daily=None if daily is None else to_micro(daily),
        country_hourly={c: to_micro(v[0]) for c, v in budgets.items()},
        country_daily={c: to_micro(v[1]) for c, v in budgets.items()},
    )


def tenant_directory(settings: Settings) -> TenantDirectory:
    """The verification API's tenants: keys from the setting and the keys file, per-tenant settings.

    Raises:
        ConfigurationError: the keys file cannot be read, or an entry is malformed.
    """
    entries = list(settings.verify_api_keys)
    if settings.verify_api_keys_file is not None:
        try:
            entries += settings.verify_api_keys_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeError) as exc:
            # A file that is not UTF-8 text was a traceback (exit 1), not a bad setting.
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigurationError(
                f"TWOSTEP_VERIFY_API_KEYS_FILE: cannot read {settings.verify_api_keys_file} ({reason})"
            ) from None
    tenants = {
        name: Tenant(
            name=name,
            template=config.template,
            sms_per_hour=config.sms_per_hour or settings.verify_tenant_sms_per_hour,
            sms_per_day=config.sms_per_day or settings.verify_tenant_sms_per_day,
            allow_message=config.allow_message,
            allow_urls=config.allow_urls,
        )
        for name, config in settings.verify_tenants.items()
    }
    keys = parse_key_entries(entries)
    for name, _ in keys:
        tenants.setdefault(
            name,
            Tenant(
                name,
                sms_per_hour=settings.verify_tenant_sms_per_hour,
                sms_per_day=settings.verify_tenant_sms_per_day,
            ),
        )
    return TenantDirectory(tenants, keys)


def verify_policy(settings: Settings) -> VerifyPolicy:
    return VerifyPolicy(
        default_length=settings.verify_default_length,
        default_ttl_seconds=settings.verify_default_ttl_seconds,
        max_ttl_seconds=settings.verify_max_ttl_seconds,
        default_retries=settings.verify_default_retries,
        template=verify_template(settings),
        # Flowroute compatibility's own text (like any operator template) is sent as it is
        text=bundled_text(verify_template(settings), DEFAULT_VERIFY_TEMPLATE, "verify"),
        org=settings.org_name,
    )


# Flowroute sms-verification's text: the code alone on the first line (its clients and tests read it there).
FLOWROUTE_VERIFY_TEMPLATE = "{code}\nWelcome to {org}! Use this one-time code to complete your signup."


def verify_template(settings: Settings) -> str:
    """The configured verification text; in Flowroute compatibility mode its default is Flowroute's."""
    if settings.verify_compat == "flowroute" and settings.verify_template == DEFAULT_VERIFY_TEMPLATE:
        return FLOWROUTE_VERIFY_TEMPLATE
    return settings.verify_template
