"""Passkeys, WebAuthn ceremonies and remembered devices in DynamoDB.

| item | PK | SK | notes |
|---|---|---|---|
| passkey | `PASSKEY#<credential id>` | `PASSKEY` | `sign_count` moves by compare-and-swap |
| user's passkeys | `USER#<id>` | `PASSKEY#<credential id>` | written with the passkey in one transaction |
| user's passkey version | `USER#<id>` | `PASSKEYS` | moved by each limited add, in its transaction |
| WebAuthn ceremony | `CEREMONY#<id>` | `CEREMONY` | taken by one `DeleteItem` returning it; ttl |
| remembered device | `DEVICE#<token sha256>` | `DEVICE` | ttl at expiry |
| user's devices | `USER#<id>` | `DEVICE#<device id>` | a copy (devices never change); ttl |
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twostep.domain.errors import StorageUnavailable
from twostep.domain.factor_errors import PasskeyExists, PasskeyLimitReached
from twostep.domain.factors import Ceremony, PasskeyCredential, RememberedDevice
from twostep.domain.models import User
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import (
    ConditionFailed,
    deserialize,
    key,
    maybe_datetime,
    serialize,
    to_datetime,
    to_number,
    ttl_after,
)

# A transaction holds at most 100 writes, two per device; an account past the limit by more (devices
# remembered before it existed) is brought down over several rounds, each reading the copies again.
DEVICES_PER_TRANSACTION = 50
# Rounds of one call: a refused round means another caller forgot devices meanwhile (progress).
FORGET_ROUNDS = 20
# The user's passkey version: a registration under the limit writes it from the version it read, so of
# two that counted the same passkeys one is refused and counts again (deletes only lower the count).
PASSKEYS_VERSION = "PASSKEYS"
# Rounds of one limited add: a refused round means another registration of the account landed.
ADD_ROUNDS = 20


def _passkey_item(c: PasskeyCredential) -> dict[str, Any]:
    return {
        "PK": f"PASSKEY#{c.credential_id}",
        "SK": "PASSKEY",
        "credential_id": c.credential_id,
        "user_id": c.user_id,
        "public_key": c.public_key,
        "sign_count": c.sign_count,
        "created_at": to_number(c.created_at),
        "name": c.name,
        "backed_up": c.backed_up,
        "transports": ",".join(c.transports),
        "last_used_at": None if c.last_used_at is None else to_number(c.last_used_at),
    }


def _passkey(item: dict[str, Any]) -> PasskeyCredential:
    return PasskeyCredential(
        credential_id=str(item["credential_id"]),
        user_id=str(item["user_id"]),
        public_key=bytes(item["public_key"]),
        sign_count=int(item["sign_count"]),
        created_at=to_datetime(item["created_at"]),
        name=str(item["name"]),
        backed_up=bool(item["backed_up"]),
        transports=tuple(t for t in str(item.get("transports", "")).split(",") if t),
        last_used_at=maybe_datetime(item.get("last_used_at")),
    )


def _device_fields(d: RememberedDevice) -> dict[str, Any]:
    return {
        "id": d.id,
        "user_id": d.user_id,
        "token_hash": d.token_hash,
        "created_at": to_number(d.created_at),
        "expires_at": to_number(d.expires_at),
        "label": d.label,
        "ttl": ttl_after(d.expires_at, 60),
    }


def _device(item: dict[str, Any]) -> RememberedDevice:
    return RememberedDevice(
        id=str(item["id"]),
        user_id=str(item["user_id"]),
        token_hash=str(item["token_hash"]),
        created_at=to_datetime(item["created_at"]),
        expires_at=to_datetime(item["expires_at"]),
        label=str(item.get("label", "")),
    )


class PasskeyOps(TableOps):
    """Passkey, ceremony and remembered-device methods of `DynamoDbStorage`."""

    # --- passkeys ---
    def add_passkey(self, credential: PasskeyCredential, at_most: int | None = None) -> None:
        if at_most is None:
            self._add_passkey(credential)
            return
        for _ in range(ADD_ROUNDS):
            # The version first, then the count: an add committed in between is counted and has moved
            # the version, so this round's write is refused and the next one reads both again.
            version = self._passkeys_version(credential.user_id)
            if self._passkey_count(credential.user_id) >= at_most:
                raise PasskeyLimitReached(at_most)
            if self._add_passkey(credential, version):
                return
        raise StorageUnavailable()  # every round lost to another registration of the same account

    def _add_passkey(self, credential: PasskeyCredential, version: int | None = None) -> bool:
        """The passkey, its pointer and (with `version`) the user's passkey version moved on from
        `version` (0: no version item yet), in one transaction. False when the version moved first (another
        registration landed).

        Raises: PasskeyExists."""
        pointer = {"PK": f"USER#{credential.user_id}", "SK": f"PASSKEY#{credential.credential_id}"}
        try:
            self._transact(
                self._tput(_passkey_item(credential), "attribute_not_exists(PK)"),
                self._tput({**pointer, "credential_id": credential.credential_id}),
                *([] if version is None else [self._version_put(credential.user_id, version)]),
            )
        except ConditionFailed as exc:
            if version is not None and exc.last_item_failed and not exc.item_failed(0):
                return False
            raise PasskeyExists() from exc
        return True

    def _version_put(self, user_id: str, version: int) -> dict[str, Any]:
        item = {"PK": f"USER#{user_id}", "SK": PASSKEYS_VERSION, "version": version + 1}
        if version == 0:
            return self._tput(item, "attribute_not_exists(PK)")
        return self._tput(item, "version = :v", {":v": version})

    def _passkeys_version(self, user_id: str) -> int:
        item = self._get(f"USER#{user_id}", PASSKEYS_VERSION)
        return 0 if item is None else int(item["version"])

    def _passkey_count(self, user_id: str) -> int:
        """The user's passkey pointers, counted by consistent Queries (no item is read back)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :p AND begins_with(SK, :k)",
            "ExpressionAttributeValues": serialize({":p": f"USER#{user_id}", ":k": "PASSKEY#"}),
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        count = 0
        while True:
            answer = self._calls.call("query", **request)
            count += int(answer.get("Count", 0))
            if "LastEvaluatedKey" not in answer:
                return count
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def get_passkey(self, credential_id: str) -> PasskeyCredential | None:
        item = self._get(f"PASSKEY#{credential_id}", "PASSKEY")
        return None if item is None else _passkey(item)

    def list_passkeys(self, user_id: str) -> list[PasskeyCredential]:
        pointers = self._query_all(
            "PK = :p AND begins_with(SK, :k)",
            {":p": f"USER#{user_id}", ":k": "PASSKEY#"},
            ConsistentRead=True,
        )
        keys = [key(f"PASSKEY#{p['credential_id']}", "PASSKEY") for p in pointers]
        found = [
            _passkey(item)
            for start in range(0, len(keys), 100)
            for item in self._batch_get(keys[start : start + 100])
        ]
        mine = [c for c in found if c.user_id == user_id]
        return sorted(mine, key=lambda c: (c.created_at, c.credential_id))

    def record_passkey_use(
        self, credential_id: str, expected_count: int, new_count: int, now: datetime
    ) -> bool:
        try:
            self._update(
                f"PASSKEY#{credential_id}",
                "PASSKEY",
                "SET sign_count = :n, last_used_at = :now",
                {":n": new_count, ":e": expected_count, ":now": to_number(now)},
                ConditionExpression="attribute_exists(PK) AND sign_count = :e",
            )
        except ConditionFailed:
            return False
        return True

    def delete_passkey(self, user_id: str, credential_id: str) -> bool:
        owned = {
            "Delete": {
                "TableName": self._table,
                "Key": key(f"PASSKEY#{credential_id}", "PASSKEY"),
                "ConditionExpression": "user_id = :u",
                "ExpressionAttributeValues": {":u": {"S": user_id}},
            }
        }
        try:
            self._transact(owned, self._tdelete(f"USER#{user_id}", f"PASSKEY#{credential_id}"))
        except ConditionFailed:
            return False
        return True

    # --- WebAuthn ceremonies ---
    def put_ceremony(self, ceremony: Ceremony) -> None:
        c = ceremony
        self._put(
            {
                "PK": f"CEREMONY#{c.id}",
                "SK": "CEREMONY",
                "purpose": c.purpose,
                "subject": c.subject,
                "challenge": c.challenge,
                "expires_at": to_number(c.expires_at),
                "ttl": ttl_after(c.expires_at, 60),
            }
        )

    def take_ceremony(self, ceremony_id: str, now: datetime) -> Ceremony | None:
        answer = self._calls.call(
            "delete_item",
            TableName=self._table,
            Key=key(f"CEREMONY#{ceremony_id}", "CEREMONY"),
            ReturnValues="ALL_OLD",
        )
        if not answer.get("Attributes"):
            return None
        item = deserialize(answer["Attributes"])
        expires_at = to_datetime(item["expires_at"])
        if expires_at <= now:
            return None
        return Ceremony(
            id=ceremony_id,
            purpose=item["purpose"],
            subject=str(item["subject"]),
            challenge=str(item["challenge"]),
            expires_at=expires_at,
        )

    # --- remembered devices ---
    def add_remembered_device(self, device: RememberedDevice, unchanged: User | None = None) -> bool:
        fields = _device_fields(device)
        try:
            self._transact(
                self._tput({"PK": f"DEVICE#{device.token_hash}", "SK": "DEVICE", **fields}),
                self._tput({"PK": f"USER#{device.user_id}", "SK": f"DEVICE#{device.id}", **fields}),
                *([] if unchanged is None else [self._unchanged_check(unchanged)]),
            )
        except ConditionFailed as failed:
            if unchanged is not None and failed.last_item_failed:  # the account's check, last
                return False
            raise
        return True

    def find_remembered_device(self, token_hash: str, now: datetime) -> RememberedDevice | None:
        item = self._get(f"DEVICE#{token_hash}", "DEVICE")
        if item is None:
            return None
        device = _device(item)
        return device if device.expires_at > now else None

    def _device_copies(self, user_id: str) -> list[RememberedDevice]:
        items = self._query_all(
            "PK = :p AND begins_with(SK, :k)", {":p": f"USER#{user_id}", ":k": "DEVICE#"}, ConsistentRead=True
        )
        return [_device(item) for item in items]

    def list_remembered_devices(self, user_id: str, now: datetime) -> list[RememberedDevice]:
        live = [d for d in self._device_copies(user_id) if d.expires_at > now]
        return sorted(live, key=lambda d: (d.created_at, d.id))

    def forget_device(self, user_id: str, device_id: str) -> bool:
        copy = self._get(f"USER#{user_id}", f"DEVICE#{device_id}")
        if copy is None:
            return False
        try:
            self._transact(
                self._tdelete(f"USER#{user_id}", f"DEVICE#{device_id}", "attribute_exists(PK)"),
                self._tdelete(f"DEVICE#{copy['token_hash']}", "DEVICE"),
            )
        except ConditionFailed:
            return False
        return True

    def forget_all_devices(self, user_id: str) -> int:
        return sum(self.forget_device(user_id, device.id) for device in self._device_copies(user_id))

    def forget_devices_beyond(self, user_id: str, keep: int) -> list[str]:
        """One consistent Query of the user's copies; under the limit that is all. Beyond it, the extra
        devices go in one transaction, each copy's delete conditioned on its being there: when another
        caller forgot one first, the whole transaction is refused and the copies are read again, so each
        device is reported once and the last caller, reading after every add, leaves at most `keep`."""
        forgotten: list[str] = []
        for _ in range(FORGET_ROUNDS):
            copies = sorted(self._device_copies(user_id), key=lambda d: (d.created_at, d.id))
            extra = copies[: max(len(copies) - keep, 0)][:DEVICES_PER_TRANSACTION]
            if not extra:
                break
            try:
                self._transact(*(item for device in extra for item in self._device_deletes(device)))
            except ConditionFailed:
                continue
            forgotten.extend(device.id for device in extra)
        return forgotten

    def _device_deletes(self, device: RememberedDevice) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            self._tdelete(f"USER#{device.user_id}", f"DEVICE#{device.id}", "attribute_exists(PK)"),
            self._tdelete(f"DEVICE#{device.token_hash}", "DEVICE"),
        )

    # --- account deletion ---
    def _erase_factors_of(self, user_id: str) -> None:
        """From `delete_user`: the user's TOTP factor, recovery codes, passkeys (freeing their credential
        ids) with their version item, and remembered devices. Ceremonies have no per-user key; one begun
        for the user expires (ttl)."""
        for item_key in ("TOTP", "RECOVERY", PASSKEYS_VERSION):
            self._calls.call("delete_item", TableName=self._table, Key=key(f"USER#{user_id}", item_key))
        pointers = self._query_all(
            "PK = :p AND begins_with(SK, :k)",
            {":p": f"USER#{user_id}", ":k": "PASSKEY#"},
            ConsistentRead=True,
        )
        for pointer in pointers:
            if not self.delete_passkey(user_id, str(pointer["credential_id"])):
                # The credential is not (or no longer) the user's: only the stale pointer goes.
                self._calls.call("delete_item", TableName=self._table, Key=key(pointer["PK"], pointer["SK"]))
        self.forget_all_devices(user_id)
