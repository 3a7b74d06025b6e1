"""Remember this device: a long random token that lets one browser or app skip the second factor for
a while. Only its hash is stored; the user lists and forgets devices; a password reset or change, and a new
number or address, forget all."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.factor_ports import RememberedDeviceStore
from twostep.domain.factors import RememberedDevice
from twostep.domain.models import NO_CONTEXT, RequestContext, User
from twostep.services.audit import AuditService
from twostep.services.session_ending import SessionEnder
from twostep.services.unchanged_credentials import refuse_changed

MAX_LABEL = 120
MAX_TOKEN_LENGTH = 128


def hash_device_token(token: str) -> str:
    return hashlib.sha256(b"twostep device\x00" + token.encode()).hexdigest()


class DeviceService:
    def __init__(
        self, *, store: RememberedDeviceStore, audit: AuditService, clock: Clock, days: int, limit: int
    ) -> None:
        self._store, self._audit, self._clock = store, audit, clock
        self._lifetime = timedelta(days=days)
        self._limit = limit  # remembered devices per account; the oldest make room for a new one

    @property
    def enabled(self) -> bool:
        """TWOSTEP_REMEMBER_DEVICE_DAYS=0 turns remembering off."""
        return self._lifetime > timedelta(0)

    @property
    def lifetime_seconds(self) -> int:
        return int(self._lifetime.total_seconds())

    def remember(self, account: User, label: str, ctx: RequestContext = NO_CONTEXT) -> str | None:
        """A new device token for the account as its sign-in checked it (None when remembering is off);
        shown once.

        Raises: CredentialsChanged (audited as a failed sign-in): the account's password, number or address
            changed since; nothing stored. The sign-in's session, stored before, was ended by the change.
        """
        if not self.enabled:
            return None
        token = "rd_" + secrets.token_urlsafe(32)
        now = self._clock.now()
        device = RememberedDevice(
            id=str(uuid.uuid4()),
            user_id=account.id,
            token_hash=hash_device_token(token),
            created_at=now,
            expires_at=now + self._lifetime,
            label=" ".join(label.split())[:MAX_LABEL],
        )
        if not self._store.add_remembered_device(device, unchanged=account):
            refuse_changed(account, self._audit, ctx, event="login_failed")
        # Past TWOSTEP_REMEMBER_DEVICE_LIMIT the oldest are forgotten (as Cognito's per-user device limit),
        # so a script signing in with "remember" in a loop cannot grow the account's list without bound.
        forgotten = self._store.forget_devices_beyond(account.id, self._limit)
        self._audit.record_all(
            self._audit.entry("device_remembered", ctx=ctx, user_id=account.id, device=device.id),
            *(
                self._audit.entry("device_forgotten", ctx=ctx, user_id=account.id, device=old, reason="limit")
                for old in forgotten
            ),
        )
        return token

    def recognises(self, token: str | None, user_id: str) -> bool:
        """Whether `token` is a live device token of this user, under the current lifetime too."""
        if not self.enabled or not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        now = self._clock.now()
        device = self._store.find_remembered_device(hash_device_token(token), now)
        return device is not None and device.user_id == user_id and self._ends(device) > now

    def remembered(self, user_id: str) -> list[RememberedDevice]:
        """The user's live devices, each with the end the current lifetime gives it."""
        now = self._clock.now()
        devices = self._store.list_remembered_devices(user_id, now)
        return [replace(d, expires_at=self._ends(d)) for d in devices if self._ends(d) > now]

    def _ends(self, device: RememberedDevice) -> datetime:
        """A device's end is fixed when it is remembered, but a lowered TWOSTEP_REMEMBER_DEVICE_DAYS
        shortens the devices remembered before it too: the operator's new policy holds at once."""
        return min(device.expires_at, device.created_at + self._lifetime)

    def forget(self, user_id: str, device_id: str, ctx: RequestContext = NO_CONTEXT) -> bool:
        """Idempotent: afterwards the device is not remembered; True when it was until now."""
        forgotten = self._store.forget_device(user_id, device_id)
        if forgotten:
            self._audit.record("device_forgotten", ctx=ctx, user_id=user_id, device=device_id)
        return forgotten

    def forget_all(self, user_id: str, ctx: RequestContext = NO_CONTEXT) -> int:
        """Forget every remembered device of the user; the password-reset flow calls this."""
        count = self._store.forget_all_devices(user_id)
        if count:
            self._audit.record("device_forgotten", ctx=ctx, user_id=user_id, device="all", count=str(count))
        return count


class SessionAndDeviceEnder:
    """A `SessionEnder` that also forgets the account's remembered devices when its password was reset
    or changed, or its number or address changed: whoever knew the old password must not keep skipping the
    second factor, nor the lost or stolen phone a number change is made after (checklist S6); an address
    taken back by its owner (`email_claimed`) is a change of address too. The changing
    browser's own device goes too; it is remembered again at its next sign-in."""

    REASONS = frozenset(
        {"password_reset", "password_changed", "phone_changed", "email_changed", "email_claimed"}
    )

    def __init__(self, sessions: SessionEnder, devices: DeviceService) -> None:
        self._sessions, self._devices = sessions, devices

    def end_all(
        self, user_id: str, *, keep: str | None = None, ctx: RequestContext = NO_CONTEXT, reason: str = "user"
    ) -> int:
        if reason in self.REASONS:
            self._devices.forget_all(user_id, ctx)
        return self._sessions.end_all(user_id, keep=keep, ctx=ctx, reason=reason)
