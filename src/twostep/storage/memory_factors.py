"""Factor records in memory (see domain/factor_ports.py); every method holds the storage's one lock."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from twostep.domain.factor_errors import PasskeyExists, PasskeyLimitReached
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.factors import Ceremony, PasskeyCredential, RememberedDevice, TotpFactor
from twostep.domain.models import User
from twostep.storage.memory_sessions import unchanged_in


class MemoryFactors:
    _lock: threading.RLock
    _users: dict[str, User]  # MemoryUsers' accounts, checked by `unchanged`

    def enrolled_factors(self, user_id: str) -> EnrolledFactors:
        with self._lock:
            totp = self.get_totp(user_id)
            return EnrolledFactors(
                passkeys=bool(self.list_passkeys(user_id)),
                totp=totp is not None and totp.enabled,
                recovery_codes=self.count_recovery_codes(user_id),
            )

    def _init_factors(self) -> None:
        self._totp: dict[str, TotpFactor] = {}
        self._recovery: dict[str, set[str]] = {}
        self._passkeys: dict[str, PasskeyCredential] = {}
        self._ceremonies: dict[str, Ceremony] = {}
        self._devices: dict[str, RememberedDevice] = {}  # by token hash

    # --- TOTP ---
    def get_totp(self, user_id: str) -> TotpFactor | None:
        return self._totp.get(user_id)

    def begin_totp_enrolment(self, user_id: str, pending_sealed: str, now: datetime) -> None:
        with self._lock:
            current = self._totp.get(user_id) or TotpFactor(user_id=user_id, created_at=now)
            self._totp[user_id] = replace(current, pending_sealed=pending_sealed)

    def confirm_totp(self, user_id: str, pending_sealed: str, step: int, now: datetime) -> bool:
        with self._lock:
            current = self._totp.get(user_id)
            if current is None or current.pending_sealed != pending_sealed:
                return False
            self._totp[user_id] = replace(
                current, secret_sealed=pending_sealed, pending_sealed=None, enabled_at=now, last_step=step
            )
            return True

    def advance_totp_step(self, user_id: str, step: int) -> bool:
        with self._lock:
            current = self._totp.get(user_id)
            if current is None or not current.enabled:
                return False
            if current.last_step is not None and current.last_step >= step:
                return False
            self._totp[user_id] = replace(current, last_step=step)
            return True

    def delete_totp(self, user_id: str) -> bool:
        with self._lock:
            return self._totp.pop(user_id, None) is not None

    # --- recovery codes ---
    def replace_recovery_codes(self, user_id: str, code_hashes: tuple[str, ...], now: datetime) -> None:
        with self._lock:
            self._recovery[user_id] = set(code_hashes)

    def use_recovery_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        with self._lock:
            codes = self._recovery.get(user_id, set())
            if code_hash not in codes:
                return False
            codes.discard(code_hash)
            return True

    def count_recovery_codes(self, user_id: str) -> int:
        with self._lock:
            return len(self._recovery.get(user_id, ()))

    # --- passkeys ---
    def add_passkey(self, credential: PasskeyCredential, at_most: int | None = None) -> None:
        with self._lock:
            if at_most is not None:
                held = sum(1 for c in self._passkeys.values() if c.user_id == credential.user_id)
                if held >= at_most:
                    raise PasskeyLimitReached(at_most)
            if credential.credential_id in self._passkeys:
                raise PasskeyExists()
            self._passkeys[credential.credential_id] = credential

    def get_passkey(self, credential_id: str) -> PasskeyCredential | None:
        return self._passkeys.get(credential_id)

    def list_passkeys(self, user_id: str) -> list[PasskeyCredential]:
        with self._lock:
            mine = [c for c in self._passkeys.values() if c.user_id == user_id]
        return sorted(mine, key=lambda c: (c.created_at, c.credential_id))

    def record_passkey_use(
        self, credential_id: str, expected_count: int, new_count: int, now: datetime
    ) -> bool:
        with self._lock:
            current = self._passkeys.get(credential_id)
            if current is None or current.sign_count != expected_count:
                return False
            self._passkeys[credential_id] = replace(current, sign_count=new_count, last_used_at=now)
            return True

    def delete_passkey(self, user_id: str, credential_id: str) -> bool:
        with self._lock:
            current = self._passkeys.get(credential_id)
            if current is None or current.user_id != user_id:
                return False
            del self._passkeys[credential_id]
            return True

    # --- WebAuthn ceremonies ---
    def put_ceremony(self, ceremony: Ceremony) -> None:
        with self._lock:
            self._ceremonies[ceremony.id] = ceremony

    def take_ceremony(self, ceremony_id: str, now: datetime) -> Ceremony | None:
        with self._lock:
            ceremony = self._ceremonies.pop(ceremony_id, None)
        return ceremony if ceremony is not None and ceremony.expires_at > now else None

    # --- remembered devices ---
    def add_remembered_device(self, device: RememberedDevice, unchanged: User | None = None) -> bool:
        with self._lock:
            if unchanged is not None and not unchanged_in(self._users, unchanged):
                return False
            self._devices[device.token_hash] = device
            return True

    def find_remembered_device(self, token_hash: str, now: datetime) -> RememberedDevice | None:
        device = self._devices.get(token_hash)
        return device if device is not None and device.expires_at > now else None

    def list_remembered_devices(self, user_id: str, now: datetime) -> list[RememberedDevice]:
        with self._lock:
            mine = [d for d in self._devices.values() if d.user_id == user_id and d.expires_at > now]
        return sorted(mine, key=lambda d: (d.created_at, d.id))

    def forget_device(self, user_id: str, device_id: str) -> bool:
        with self._lock:
            for token_hash, device in self._devices.items():
                if device.id == device_id and device.user_id == user_id:
                    del self._devices[token_hash]
                    return True
            return False

    def forget_all_devices(self, user_id: str) -> int:
        with self._lock:
            mine = [h for h, d in self._devices.items() if d.user_id == user_id]
            for token_hash in mine:
                del self._devices[token_hash]
            return len(mine)

    def forget_devices_beyond(self, user_id: str, keep: int) -> list[str]:
        with self._lock:
            mine = sorted(
                (d for d in self._devices.values() if d.user_id == user_id),
                key=lambda d: (d.created_at, d.id),
            )
            extra = mine[: max(len(mine) - keep, 0)]
            for device in extra:
                del self._devices[device.token_hash]
            return [device.id for device in extra]

    # --- account deletion ---
    def _erase_factors_of(self, user_id: str) -> None:
        """Under the lock, from `delete_user`: every factor record of the user, which frees the credential
        ids of their passkeys; so is a registration ceremony begun for them."""
        self._totp.pop(user_id, None)
        self._recovery.pop(user_id, None)
        for credential_id in [c for c, p in self._passkeys.items() if p.user_id == user_id]:
            del self._passkeys[credential_id]
        for token_hash in [h for h, d in self._devices.items() if d.user_id == user_id]:
            del self._devices[token_hash]
        for ceremony_id in [i for i, c in self._ceremonies.items() if _begun_for(c, user_id)]:
            del self._ceremonies[ceremony_id]


def _begun_for(ceremony: Ceremony, user_id: str) -> bool:
    return ceremony.purpose == "register" and ceremony.subject == user_id
