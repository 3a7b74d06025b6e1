"""Builds the second-factor services (authenticator apps, recovery codes, passkeys, remembered devices)
for the container; kept apart so `container.py` stays one screen of wiring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from twostep.domain.clock import Clock
from twostep.domain.ports import Storage
from twostep.domain.recovery import RecoveryCodeHasher
from twostep.domain.totp import SecretSealer
from twostep.services.account_locks import AccountLocks
from twostep.services.account_notices import AccountNotices
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService
from twostep.services.devices import DeviceService
from twostep.services.factors import FactorService
from twostep.services.last_factor import LastFactorGuard
from twostep.services.limits import LimitsService
from twostep.services.passkey_login import PasskeyLoginService
from twostep.services.passkeys import PasskeyService
from twostep.services.reauthentication import Reauthentication
from twostep.services.second_factor import SecondFactorService
from twostep.services.tokens import TokenService
from twostep.services.totp_enrolment import EnrolmentAttempts
from twostep.settings import Settings

if TYPE_CHECKING:
    from twostep.services.login import LoginService


@dataclass
class FactorServices:
    account: FactorService
    second_factor: SecondFactorService
    devices: DeviceService
    passkeys: PasskeyService
    _passkey_login: PasskeyLoginService | None = field(default=None, repr=False)

    @property
    def passkey_login(self) -> PasskeyLoginService:
        assert self._passkey_login is not None, "attach_login was not called"
        return self._passkey_login

    def attach_login(
        self,
        login: LoginService,
        codes: ChallengeService,
        storage: Storage,
        tokens: TokenService,
        limits: LimitsService,
        locks: AccountLocks,
        audit: AuditService,
    ) -> None:
        """Passkey sign-in builds on the login service, which itself uses `second_factor`."""
        self._passkey_login = PasskeyLoginService(
            login=login,
            passkeys=self.passkeys,
            challenges=storage,
            codes=codes,
            users=storage,
            tokens=tokens,
            limits=limits,
            locks=locks,
            audit=audit,
        )


def build_factor_services(
    settings: Settings,
    storage: Storage,
    reauth: Reauthentication,
    notices: AccountNotices,
    audit: AuditService,
    clock: Clock,
    otp_hmac_key: bytes,
    devices: DeviceService,
) -> FactorServices:
    # Both keys are derived from the code-HMAC key (HKDF / a labelled hash), never used raw; it stays
    # the same when signing keys rotate, so sealed secrets stay readable.
    sealer = SecretSealer(otp_hmac_key)
    recovery = RecoveryCodeHasher(otp_hmac_key)
    last_factor = LastFactorGuard(store=storage, required=settings.require_second_factor)
    return FactorServices(
        account=FactorService(
            users=storage,
            store=storage,
            reauth=reauth,
            notices=notices,
            sealer=sealer,
            recovery_hasher=recovery,
            audit=audit,
            clock=clock,
            issuer_name=settings.org_name,
            enrolments=EnrolmentAttempts(counters=storage, clock=clock),
            last_factor=last_factor,
        ),
        second_factor=SecondFactorService(
            store=storage, sealer=sealer, recovery_hasher=recovery, audit=audit, clock=clock
        ),
        devices=devices,
        passkeys=PasskeyService(
            store=storage,
            users=storage,
            reauth=reauth,
            notices=notices,
            audit=audit,
            clock=clock,
            limit=settings.passkey_limit,
            counters=storage,
            last_factor=last_factor,
        ),
    )
