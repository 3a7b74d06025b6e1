"""The composition root: builds every service from `Settings` once; used by every entry point."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from twostep.aws_session import SharedSession
from twostep.channels import registry
from twostep.channels.router import ChannelRouter, build_channels
from twostep.cores import usable_cores
from twostep.domain.clock import Clock, SystemClock
from twostep.domain.metrics import NO_METRICS, Metrics
from twostep.domain.models import EmailCollision
from twostep.domain.otp import CodeHasher
from twostep.domain.password_policy import password_policy
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import EmailSender, SmsSender, Storage
from twostep.domain.provider_checks import CredentialCheck
from twostep.domain.revocation import RevocationList
from twostep.email import build_email_sender
from twostep.factor_wiring import FactorServices, build_factor_services
from twostep.policies import budget_policy, fraud_policy, limit_policy, tenant_directory, verify_policy
from twostep.receipt_wiring import attach_fallback
from twostep.secrets import key_source_for, settings_with_secret_credentials
from twostep.services.account import AccountService, AccountStores
from twostep.services.account_changes import AccountChangeService
from twostep.services.account_locale import LocalePreferences
from twostep.services.account_locks import AccountLocks
from twostep.services.account_notices import AccountNotices
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.credential_watch import CredentialWatch, Kind
from twostep.services.devices import DeviceService, SessionAndDeviceEnder
from twostep.services.email_claims import EmailClaimService
from twostep.services.health import HealthService
from twostep.services.housekeeping import HousekeepingPolicy, HousekeepingService
from twostep.services.idempotency import IdempotencyService
from twostep.services.keyring import KeyRing, TokenPolicy
from twostep.services.limits import LimitsService
from twostep.services.login import CodeStep, LoginService, PasswordStep
from twostep.services.messages import MessageService
from twostep.services.prefix_guard import PrefixGuard
from twostep.services.reauthentication import Reauthentication
from twostep.services.receipts import DeliveryReceipts
from twostep.services.recovery import PasswordRecoveryService
from twostep.services.registration import RegistrationService
from twostep.services.sessions import SessionService
from twostep.services.tenants import TenantDirectory
from twostep.services.test_numbers import FixedCodeNumbers
from twostep.services.texts import CodeTexts
from twostep.services.tokens import SessionPolicy, TokenService
from twostep.services.verification import VerificationService
from twostep.settings import DEFAULT_SMS_TEMPLATE, Settings
from twostep.sms import SenderDeps, build_delivery
from twostep.sms.failover import FailoverSender
from twostep.storage import build_storage
from twostep.text_budget import bundled_text, code_texts

logger = logging.getLogger("twostep")
ACCOUNT_CODE_TEMPLATE = "{code} is your {org} code to confirm a change to your account. Never share it."


@dataclass
class Container:
    settings: Settings
    clock: Clock
    storage: Storage
    sender: SmsSender
    keys: KeyRing
    passwords: PasswordHasher
    audit: AuditService
    limits: LimitsService
    codes: ChallengeService
    tokens: TokenService
    registration: RegistrationService
    login: LoginService
    messages: MessageService
    verification: VerificationService
    factors: FactorServices
    sessions: SessionService
    account: AccountService
    recovery: PasswordRecoveryService
    changes: AccountChangeService
    claims: EmailClaimService
    email_sender: EmailSender
    health: HealthService
    housekeeping: HousekeepingService
    tenants: TenantDirectory
    fraud: PrefixGuard
    metrics: Metrics
    idempotency: IdempotencyService
    locales: LocalePreferences
    closers: list[Any] = field(default_factory=list)
    delivery: ChannelRouter | None = None  # every channel (sms, voice, whatsapp) a code may go by
    receipts: DeliveryReceipts | None = None  # delivery records and the provider receipts that move them

    def close(self) -> None:
        for resource in self.closers:
            resource.close()
        self.passwords.close()
        self.storage.close()


def housekeeping_policy(settings: Settings) -> HousekeepingPolicy:
    return HousekeepingPolicy(
        grace_seconds=settings.purge_grace_seconds,
        revocation_window_seconds=revocation_window_seconds(settings),
        audit_retention_days=settings.audit_retention_days,
        batch=settings.housekeeping_batch,
    )


def token_policy(settings: Settings) -> TokenPolicy:
    return TokenPolicy(
        algorithm=settings.jwt_algorithm,
        issuer=settings.issuer,
        audience=settings.audience,
        access_ttl_seconds=settings.access_token_ttl_seconds,
        leeway_seconds=settings.jwt_leeway_seconds,
    )


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    http: Any = None,
    boto_session: Any = None,
    storage: Storage | None = None,
    sender: SmsSender | None = None,
    email_sender: EmailSender | None = None,
    passwords: PasswordHasher | None = None,
    metrics: Metrics | None = None,
) -> Container:
    """Everything twostep needs, wired once. Injected parts replace the configured ones (tests, Lambda,
    the pumping simulation's cheap password hasher)."""
    clock = clock or SystemClock()
    texts = code_texts(settings)  # before anything is created: an over-budget text stops start-up
    boto_session = boto_session if boto_session is not None else SharedSession(settings.aws_region)
    storage = storage or build_storage(settings, boto_session=boto_session)
    storage.init_schema()
    keys = KeyRing(
        key_source_for(settings, storage, clock, boto_session=boto_session),
        clock,
        token_policy(settings),
        settings.keys_refresh_seconds,
    )
    settings = settings_with_secret_credentials(settings, keys.material.extra)  # provider keys in the secret
    closers: list[Any] = []
    if http is None and registry.needs_http(registry.configured_providers(settings)):
        import httpx

        from twostep.sms.http import timeout_for

        http = httpx.Client(timeout=timeout_for(settings))
        closers.append(http)
    deps = SenderDeps(outbox=storage, clock=clock, http=http, boto_session=boto_session)
    sender = sender or build_delivery(settings, deps)
    delivery = build_channels(settings, deps, sender)
    email_sender = email_sender or build_email_sender(settings, deps)
    senders = (sender, email_sender)
    return _wire(
        settings, clock, storage, senders, keys, closers, passwords, metrics or NO_METRICS, delivery, texts
    )


# Past this age an unreadable list fails closed: the promise is "refused within 5 s".
REVOCATION_MAX_AGE_SECONDS = 5


def revocation_list(settings: Settings, storage: Storage, clock: Clock) -> RevocationList:
    """The API's copy of the ended sessions; an entry older than any access token is dropped."""
    return RevocationList(
        storage,
        clock,
        refresh_every=timedelta(seconds=settings.revocation_refresh_seconds),
        max_age=timedelta(seconds=REVOCATION_MAX_AGE_SECONDS),
        window=timedelta(seconds=revocation_window_seconds(settings)),
    )


def credential_watch(sender: SmsSender, email_sender: EmailSender, clock: Clock) -> CredentialWatch:
    """Readiness's check of the configured SMS and email providers' credentials; an injected SMS sender, or
    an email sender without a check (a fake in tests), is not asked."""
    sms = sender.credential_checks() if isinstance(sender, FailoverSender) else []
    email = [email_sender] if isinstance(email_sender, CredentialCheck) else []
    return CredentialWatch([Kind.sms(sms), Kind.email(email)], clock)


def revocation_window_seconds(settings: Settings) -> int:
    """How far back the revocation list looks: as long as an ended session's access tokens can live."""
    return settings.access_token_ttl_seconds + settings.jwt_leeway_seconds + 60


def migrate_storage(
    settings: Settings, *, boto_session: Any = None
) -> tuple[list[int], list[EmailCollision]]:
    """Apply pending schema migrations (`twostep storage migrate`); returns the versions applied now and
    the accounts left apart because another holds their canonical address.

    Addresses are made canonical on every run, not only by the schema step that first did it: a process
    of 0.1.0 still serving during a rolling upgrade may store another address in its older form.
    """
    storage = build_storage(settings, boto_session=boto_session)
    try:
        applied = storage.migrate()
        return applied, storage.canonicalise_emails()
    finally:
        storage.close()


def _wire(
    settings: Settings,
    clock: Clock,
    storage: Storage,
    senders: tuple[SmsSender, EmailSender],
    keys: KeyRing,
    closers: list[Any],
    passwords: PasswordHasher | None = None,
    metrics: Metrics = NO_METRICS,
    delivery: ChannelRouter | None = None,
    texts: CodeTexts | None = None,
) -> Container:
    sender, email_sender = senders
    passwords = passwords or PasswordHasher(
        settings.argon2_memory_kib,
        settings.argon2_time_cost,
        settings.argon2_parallelism,
        max_concurrent=settings.password_hash_threads or usable_cores(),
        on_queue=metrics.hash_queue,
        group=settings.password_hash_group,
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
        metrics=metrics,
    )
    code_hasher = CodeHasher(keys.otp_hmac_key)
    receipts = DeliveryReceipts(
        store=storage, challenges=storage, audit=audit, clock=clock, metrics=metrics, accounts=storage
    )
    codes = ChallengeService(
        store=storage,
        sender=sender,
        delivery=delivery,
        email_sender=email_sender,
        hasher=code_hasher,
        limits=limits,
        audit=audit,
        clock=clock,
        org_name=settings.org_name,
        web_origin=settings.web_origin,
        metrics=metrics,
        test_numbers=FixedCodeNumbers.parse(settings.test_numbers),
        receipts=receipts,
        texts=texts,
        call_units=settings.voice_call_units,
    )
    if settings.test_numbers:  # a fixed code is a way in: say so wherever it is on (never the numbers)
        logger.warning("test numbers on: %d number(s) get fixed codes and no SMS", len(settings.test_numbers))
    locks = AccountLocks(storage, clock)
    tokens = TokenService(
        store=storage,
        sessions=storage,
        users=storage,
        keys=keys,
        revocations=revocation_list(settings, storage, clock),
        locks=locks,
        audit=audit,
        clock=clock,
        policy=SessionPolicy(
            settings.refresh_token_ttl_seconds,
            settings.require_second_factor,
            settings.session_idle_lifetime_seconds,
        ),
    )
    sessions = SessionService(store=storage, tokens=tokens, audit=audit, clock=clock)
    devices = DeviceService(
        store=storage,
        audit=audit,
        clock=clock,
        days=settings.remember_device_days,
        limit=settings.remember_device_limit,
    )
    login_spec = CodeSpec(
        length=settings.otp_length,
        ttl_seconds=settings.otp_ttl_seconds,
        max_attempts=settings.otp_max_attempts,
        template=settings.sms_template,
        text=bundled_text(settings.sms_template, DEFAULT_SMS_TEMPLATE, "signin"),
    )
    # The current password, asked again before a signed-in request changes how the account signs in.
    reauth = Reauthentication(users=storage, hasher=passwords, limits=limits, audit=audit)
    notices = AccountNotices(codes=codes, audit=audit, clock=clock)  # of those changes, to the owner
    factor_services = build_factor_services(
        settings, storage, reauth, notices, audit, clock, keys.otp_hmac_key, devices
    )
    # A password reset or change, or a new number or address, also forgets remembered devices.
    session_ender = SessionAndDeviceEnder(sessions, devices)
    account_spec = CodeSpec(
        length=settings.otp_length,
        ttl_seconds=settings.otp_ttl_seconds,
        max_attempts=settings.otp_max_attempts,
        template=ACCOUNT_CODE_TEMPLATE,
        text="account",
    )
    # What a new password must be: 15 characters where it can be the only factor (NIST SP 800-63B-4).
    new_passwords = password_policy(
        require_second_factor=settings.require_second_factor, org_name=settings.org_name
    )
    container = Container(
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
        registration=RegistrationService(
            users=storage,
            hasher=passwords,
            limits=limits,
            audit=audit,
            clock=clock,
            require_second_factor=settings.require_second_factor,
            password_policy=new_passwords,
        ),
        login=LoginService(
            PasswordStep(
                users=storage,
                challenges=storage,
                codes=codes,
                tokens=tokens,
                hasher=passwords,
                limits=limits,
                audit=audit,
                code_spec=login_spec,
                require_second_factor=settings.require_second_factor,
                factors=factor_services.second_factor,
                devices=devices,
            ),
            CodeStep(
                users=storage,
                challenges=storage,
                codes=codes,
                tokens=tokens,
                limits=limits,
                audit=audit,
                factors=factor_services.second_factor,
            ),
        ),
        messages=MessageService(storage, clock, users=storage),
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
        factors=factor_services,
        sessions=sessions,
        account=AccountService(
            stores=AccountStores(users=storage, messages=storage, audit=storage),
            sessions=sessions,
            locks=locks,
            notices=notices,
            reauth=reauth,
            limits=limits,
            audit=audit,
            clock=clock,
            pseudonym_key=keys.otp_hmac_key,
        ),
        recovery=PasswordRecoveryService(
            users=storage,
            challenges=storage,
            codes=codes,
            code_hasher=code_hasher,
            hasher=passwords,
            limits=limits,
            sessions=session_ender,
            audit=audit,
            clock=clock,
            spec=account_spec,
            password_policy=new_passwords,
            notices=notices,
            devices=devices,
        ),
        changes=AccountChangeService(
            users=storage,
            codes=codes,
            hasher=passwords,
            limits=limits,
            reauth=reauth,
            notices=notices,
            sessions=session_ender,
            audit=audit,
            clock=clock,
            spec=account_spec,
            password_policy=new_passwords,
        ),
        claims=EmailClaimService(
            users=storage,
            challenges=storage,
            codes=codes,
            code_hasher=code_hasher,
            limits=limits,
            notices=notices,
            sessions=session_ender,
            audit=audit,
            clock=clock,
            spec=account_spec,
        ),
        email_sender=email_sender,
        health=HealthService(storage, clock, credentials=credential_watch(sender, email_sender, clock)),
        housekeeping=HousekeepingService(storage, clock, housekeeping_policy(settings)),
        tenants=tenant_directory(settings),
        fraud=limits.sms.guard,
        metrics=metrics,
        idempotency=IdempotencyService(
            storage,
            clock,
            fingerprint_key=keys.otp_hmac_key,
            ttl_seconds=settings.idempotency_ttl_seconds,
        ),
        locales=LocalePreferences(storage),
        closers=closers,
        delivery=delivery,
        receipts=receipts,
    )
    factor_services.attach_login(container.login, codes, storage, tokens, limits, locks, audit)
    attach_fallback(
        settings,
        receipts,
        (storage, codes, audit, clock),
        (login_spec, account_spec, container.verification),
        container.tenants,
        limits.check_second_factor_allowed,
    )
    return container
