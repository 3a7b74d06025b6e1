"""The composition root: builds every service from `Settings` once; used by every entry point."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from twostep.domain.clock import Clock, SystemClock
from twostep.domain.errors import ConfigurationError
from twostep.domain.keys import KeyMaterial
from twostep.domain.models import Tenant
from twostep.domain.otp import CodeHasher
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import SmsSender, Storage
from twostep.domain.tokens import TokenIssuer, TokenVerifier
from twostep.secrets import load_key_material, settings_with_secret_credentials
from twostep.services.account import AccountService
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.limits import BudgetPolicy, FraudPolicy, LimitPolicy, LimitsService
from twostep.services.login import LoginService
from twostep.services.messages import MessageService
from twostep.services.prefix_guard import PrefixGuard
from twostep.services.registration import RegistrationService
from twostep.services.sms_prices import price_table, to_micro
from twostep.services.tenants import TenantDirectory, parse_key_entries
from twostep.services.tokens import TokenService
from twostep.services.verification import VerificationService, VerifyPolicy
from twostep.settings import Settings, parse_country_amounts
from twostep.sms import SenderDeps, build_delivery
from twostep.storage import build_storage
from twostep.verifier_factory import build_verifier

logger = logging.getLogger("twostep")


@dataclass
class Container:
    settings: Settings
    clock: Clock
    storage: Storage
    sender: SmsSender
    keys: KeyMaterial
    passwords: PasswordHasher
    audit: AuditService
    limits: LimitsService
    codes: ChallengeService
    tokens: TokenService
    verifier: TokenVerifier
    registration: RegistrationService
    login: LoginService
    messages: MessageService
    verification: VerificationService
    account: AccountService
    tenants: TenantDirectory
    fraud: PrefixGuard
    closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for resource in self.closers:
            resource.close()
        self.passwords.close()
        self.storage.close()


def usable_cores() -> int:
    """The cores this process may run on (a `taskset` or a Lambda's vCPUs), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity (macOS)
        return os.cpu_count() or 1


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
        except OSError as exc:
            raise ConfigurationError(
                f"TWOSTEP_VERIFY_API_KEYS_FILE: cannot read it ({exc.strerror})"
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
        template=settings.verify_template,
    )


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    http: Any = None,
    boto_session: Any = None,
    storage: Storage | None = None,
    sender: SmsSender | None = None,
) -> Container:
    """Everything twostep needs, wired once. Injected parts replace the configured ones (tests, Lambda)."""
    clock = clock or SystemClock()
    keys = load_key_material(settings, clock, boto_session=boto_session)
    settings = settings_with_secret_credentials(settings, keys.extra)  # provider keys kept in the secret
    storage = storage or build_storage(settings, boto_session=boto_session)
    storage.init_schema()
    closers: list[Any] = []
    if http is None and any(name in settings.sms_providers for name in ("twilio", "flowroute", "sipgate")):
        import httpx

        from twostep.sms.http import timeout_for

        http = httpx.Client(timeout=timeout_for(settings))
        closers.append(http)
    deps = SenderDeps(outbox=storage, clock=clock, http=http, boto_session=boto_session)
    sender = sender or build_delivery(settings, deps)
    return _wire(settings, clock, storage, sender, keys, closers)


def _wire(
    settings: Settings,
    clock: Clock,
    storage: Storage,
    sender: SmsSender,
    keys: KeyMaterial,
    closers: list[Any],
) -> Container:
    passwords = PasswordHasher(
        settings.argon2_memory_kib,
        settings.argon2_time_cost,
        settings.argon2_parallelism,
        max_concurrent=usable_cores(),
    )
    audit = AuditService(storage, clock, fingerprint_key=keys.otp_hmac_key)
    limits = LimitsService(
        storage,
        limit_policy(settings),
        clock,
        audit,
        blocks=storage,
        fraud=fraud_policy(settings),
        budget=budget_policy(settings),
    )
    code_hasher = CodeHasher(keys.otp_hmac_key)
    codes = ChallengeService(
        store=storage,
        sender=sender,
        hasher=code_hasher,
        limits=limits,
        audit=audit,
        clock=clock,
        org_name=settings.org_name,
        web_origin=settings.web_origin,
    )
    current = keys.current
    issuer = TokenIssuer(
        kid=current.kid,
        algorithm=current.algorithm,
        key=current.signing_material,
        issuer=settings.issuer,
        audience=settings.audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        clock=clock,
    )
    verifier = build_verifier(settings, keys, clock)
    tokens = TokenService(
        store=storage,
        users=storage,
        issuer=issuer,
        verifier=verifier,
        audit=audit,
        clock=clock,
        refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
    )
    login_spec = CodeSpec(
        length=settings.otp_length,
        ttl_seconds=settings.otp_ttl_seconds,
        max_attempts=settings.otp_max_attempts,
        template=settings.sms_template,
    )
    return Container(
        settings=settings,
        clock=clock,
        storage=storage,
        sender=sender,
        keys=keys,
        passwords=passwords,
        audit=audit,
        limits=limits,
        codes=codes,
        tokens=tokens,
        verifier=verifier,
        registration=RegistrationService(
            users=storage,
            hasher=passwords,
            limits=limits,
            audit=audit,
            clock=clock,
            require_second_factor=settings.require_second_factor,
            org_name=settings.org_name,
        ),
        login=LoginService(
            users=storage,
            challenges=storage,
            codes=codes,
            tokens=tokens,
            hasher=passwords,
            limits=limits,
            audit=audit,
            clock=clock,
            code_spec=login_spec,
            require_second_factor=settings.require_second_factor,
        ),
        messages=MessageService(storage, clock),
        verification=VerificationService(
            codes=codes,
            challenges=storage,
            counters=storage,
            hasher=code_hasher,
            limits=limits,
            audit=audit,
            clock=clock,
            policy=verify_policy(settings),
        ),
        account=AccountService(users=storage, limits=limits, audit=audit, clock=clock),
        tenants=tenant_directory(settings),
        fraud=limits.sms.guard,
        closers=closers,
    )
