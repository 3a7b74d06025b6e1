"""Refresh tokens in DynamoDB: token items, a family item whose `revoked_at` revokes every member."""

from __future__ import annotations

from datetime import datetime

from twostep.domain.models import RefreshToken
from twostep.storage import dynamodb_codec as codec
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import ConditionFailed, key, serialize, to_number


class RefreshTokenOps(TableOps):
    """Claiming checks the token and its family in one transaction, so a revoked family wins a race."""

    def add_refresh_token(self, token: RefreshToken) -> None:
        ttl = self._codec.retention.ended(max(token.expires_at, token.family_expires_at))
        family = {"PK": f"FAMILY#{token.family_id}", "SK": "FAMILY"}
        self._transact(
            self._tput(codec.refresh_item(token, self._codec.retention), "attribute_not_exists(PK)"),
            {
                "Update": {
                    "TableName": self._table,
                    "Key": serialize(family),
                    "UpdateExpression": "SET user_id = :u, #ttl = :ttl",
                    "ExpressionAttributeNames": {"#ttl": "ttl"},
                    "ExpressionAttributeValues": serialize({":u": token.user_id, ":ttl": ttl}),
                }
            },
            self._tput(
                {
                    "PK": f"USER#{token.user_id}",
                    "SK": f"FAMILY#{token.family_id}",
                    "family_id": token.family_id,
                    "ttl": ttl,
                }
            ),
        )

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        item = self._get(f"REFRESH#{token_hash}", "REFRESH")
        if item is None:
            return None
        family = self._get(f"FAMILY#{item['family_id']}", "FAMILY") or {}
        return codec.refresh_token(item, family.get("revoked_at"))

    def claim_refresh_token(
        self, token_hash: str, now: datetime, issued_after: datetime | None = None
    ) -> RefreshToken | None:
        item = self._get(f"REFRESH#{token_hash}", "REFRESH")
        if item is None:
            return None
        values = {":now": to_number(now)}
        idle = ""
        if issued_after is not None:
            values[":idle"], idle = to_number(issued_after), " AND created_at > :idle"
        try:
            self._transact(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(f"REFRESH#{token_hash}", "REFRESH"),
                        "UpdateExpression": "SET used_at = :now",
                        "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(used_at)"
                        f" AND attribute_not_exists(revoked_at) AND expires_at > :now{idle}",
                        "ExpressionAttributeValues": serialize(values),
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": key(f"FAMILY#{item['family_id']}", "FAMILY"),
                        "ConditionExpression": "attribute_not_exists(revoked_at)",
                    }
                },
            )
        except ConditionFailed:
            return None
        return codec.refresh_token({**item, "used_at": to_number(now)})
