"""TOTP factors and recovery codes in DynamoDB, each one item in the user's partition.

| item | PK | SK | notes |
|---|---|---|---|
| TOTP factor | `USER#<id>` | `TOTP` | `last_step` only moves forward (ConditionExpression) |
| recovery codes | `USER#<id>` | `RECOVERY` | string set `codes` of unused hashes; spent by `DELETE` + `contains` |
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twostep.domain.factors import TotpFactor
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import ConditionFailed, key, maybe_datetime, to_datetime, to_number


def _totp(item: dict[str, Any]) -> TotpFactor:
    step = item.get("last_step")
    return TotpFactor(
        user_id=str(item["user_id"]),
        created_at=to_datetime(item["created_at"]),
        secret_sealed=item.get("secret_sealed"),
        pending_sealed=item.get("pending_sealed"),
        enabled_at=maybe_datetime(item.get("enabled_at")),
        last_step=None if step is None else int(step),
    )


class FactorOps(TableOps):
    """TOTP and recovery-code methods of `DynamoDbStorage`."""

    # --- TOTP ---
    def get_totp(self, user_id: str) -> TotpFactor | None:
        item = self._get(f"USER#{user_id}", "TOTP")
        return None if item is None else _totp(item)

    def begin_totp_enrolment(self, user_id: str, pending_sealed: str, now: datetime) -> None:
        self._update(
            f"USER#{user_id}",
            "TOTP",
            "SET pending_sealed = :p, user_id = :u, created_at = if_not_exists(created_at, :now)",
            {":p": pending_sealed, ":u": user_id, ":now": to_number(now)},
        )

    def confirm_totp(self, user_id: str, pending_sealed: str, step: int, now: datetime) -> bool:
        try:
            self._update(
                f"USER#{user_id}",
                "TOTP",
                "SET secret_sealed = :p, enabled_at = :now, last_step = :s REMOVE pending_sealed",
                {":p": pending_sealed, ":now": to_number(now), ":s": step},
                ConditionExpression="pending_sealed = :p",
            )
        except ConditionFailed:
            return False
        return True

    def advance_totp_step(self, user_id: str, step: int) -> bool:
        try:
            self._update(
                f"USER#{user_id}",
                "TOTP",
                "SET last_step = :s",
                {":s": step},
                ConditionExpression="attribute_exists(secret_sealed)"
                " AND (attribute_not_exists(last_step) OR last_step < :s)",
            )
        except ConditionFailed:
            return False
        return True

    def delete_totp(self, user_id: str) -> bool:
        answer = self._calls.call(
            "delete_item", TableName=self._table, Key=key(f"USER#{user_id}", "TOTP"), ReturnValues="ALL_OLD"
        )
        return bool(answer.get("Attributes"))

    # --- recovery codes ---
    def replace_recovery_codes(self, user_id: str, code_hashes: tuple[str, ...], now: datetime) -> None:
        item: dict[str, Any] = {"PK": f"USER#{user_id}", "SK": "RECOVERY", "created_at": to_number(now)}
        if code_hashes:  # DynamoDB has no empty sets
            item["codes"] = set(code_hashes)
        self._put(item)

    def use_recovery_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        try:
            self._update(
                f"USER#{user_id}",
                "RECOVERY",
                "DELETE codes :set",
                {":set": {code_hash}, ":h": code_hash},
                ConditionExpression="contains(codes, :h)",
            )
        except ConditionFailed:
            return False
        return True

    def count_recovery_codes(self, user_id: str) -> int:
        item = self._get(f"USER#{user_id}", "RECOVERY")
        return 0 if item is None else len(item.get("codes", ()))
