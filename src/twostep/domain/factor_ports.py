"""Storage ports of the second factors beyond SMS; every backend implements them (tests/contract).

As in `ports.py`, each state change is one atomic conditional write: a TOTP step, a recovery code, a
WebAuthn challenge and a passkey's signature counter are each spent by exactly one caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from twostep.domain.factor_summary import EnrolledFactorStore
from twostep.domain.factors import Ceremony, PasskeyCredential, RememberedDevice, TotpFactor
from twostep.domain.models import User


class TotpStore(Protocol):
    def get_totp(self, user_id: str) -> TotpFactor | None: ...

    def begin_totp_enrolment(self, user_id: str, pending_sealed: str, now: datetime) -> None:
        """Keep `pending_sealed` as the secret being enrolled (replacing an earlier pending one); an
        enabled secret stays in force until the new one is confirmed."""
        ...

    def confirm_totp(self, user_id: str, pending_sealed: str, step: int, now: datetime) -> bool:
        """Enable the pending secret if it is still `pending_sealed`, with `step` as the last used step.

        True only for the one caller that did so.
        """
        ...

    def advance_totp_step(self, user_id: str, step: int) -> bool:
        """Record `step` as used if it is newer than the last used one (and TOTP is enabled).

        True only when it moved forward: a code (step) is accepted at most once.
        """
        ...

    def delete_totp(self, user_id: str) -> bool: ...


class RecoveryCodeStore(Protocol):
    def replace_recovery_codes(self, user_id: str, code_hashes: tuple[str, ...], now: datetime) -> None:
        """The user's recovery codes become exactly `code_hashes` (earlier ones stop working)."""
        ...

    def use_recovery_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        """Spend the code; True only for the one caller that did so."""
        ...

    def count_recovery_codes(self, user_id: str) -> int:
        """How many unused codes the user has left."""
        ...


class PasskeyStore(Protocol):
    def add_passkey(self, credential: PasskeyCredential, at_most: int | None = None) -> None:
        """Store the credential. `at_most`: only while its user has fewer passkeys than that, decided in
        the same write (a lock, a conditional write), so registrations finishing at once never leave more;
        None: no limit.

        Raises: PasskeyExists when the credential id is already registered (to anyone), PasskeyLimitReached
        when the user already has `at_most` passkeys (nothing stored)."""
        ...

    def get_passkey(self, credential_id: str) -> PasskeyCredential | None: ...

    def list_passkeys(self, user_id: str) -> list[PasskeyCredential]:
        """Oldest first."""
        ...

    def record_passkey_use(
        self, credential_id: str, expected_count: int, new_count: int, now: datetime
    ) -> bool:
        """Set the signature counter to `new_count` if it is still `expected_count` (compare-and-swap)."""
        ...

    def delete_passkey(self, user_id: str, credential_id: str) -> bool: ...


class CeremonyStore(Protocol):
    def put_ceremony(self, ceremony: Ceremony) -> None: ...

    def take_ceremony(self, ceremony_id: str, now: datetime) -> Ceremony | None:
        """Remove and return the ceremony if it exists and has not expired; one caller gets it."""
        ...


class RememberedDeviceStore(Protocol):
    def add_remembered_device(self, device: RememberedDevice, unchanged: User | None = None) -> bool:
        """Store the device; True once stored. `unchanged`: the account as the sign-in that remembers it
        checked it; while its password hash, number or address is no longer the stored account's (or it
        is gone), nothing is stored and the answer is False, in the same write (as
        `SessionStore.add_session`'s): a password change forgets every device, so one stored after the
        change's forgetting would outlive it."""
        ...

    def find_remembered_device(self, token_hash: str, now: datetime) -> RememberedDevice | None:
        """The unexpired device with this token hash."""
        ...

    def list_remembered_devices(self, user_id: str, now: datetime) -> list[RememberedDevice]:
        """The user's unexpired devices, oldest first."""
        ...

    def forget_device(self, user_id: str, device_id: str) -> bool:
        """True when the user had this device and it is now gone."""
        ...

    def forget_all_devices(self, user_id: str) -> int:
        """Forget every device of the user (a password reset); returns how many were forgotten."""
        ...

    def forget_devices_beyond(self, user_id: str, keep: int) -> list[str]:
        """Forget the user's devices but the `keep` newest (by `created_at`, then id; expired ones
        count until purged); returns the ids forgotten now, oldest first. Each device is forgotten and
        reported by one caller only; once every caller has returned, at most `keep` remain, however many
        were added at once (each adder calls this after its own add)."""
        ...


class FactorStorage(
    TotpStore,
    RecoveryCodeStore,
    PasskeyStore,
    CeremonyStore,
    RememberedDeviceStore,
    EnrolledFactorStore,
    Protocol,
):
    """Every factor record; part of `Storage`."""
