"""DynamoDB: the enrolled second factors (`enrolled_factors`): the user's passkeys as `list_passkeys`
finds them, and the authenticator-app and recovery-code items of the user's partition in one
BatchGetItem (strongly consistent)."""

from __future__ import annotations

from typing import Any

from twostep.domain.factor_summary import EnrolledFactors
from twostep.storage.dynamodb_client import deserialize, key
from twostep.storage.dynamodb_passkeys import PasskeyOps


class FactorSummaryOps(PasskeyOps):
    def enrolled_factors(self, user_id: str) -> EnrolledFactors:
        passkeys = bool(self.list_passkeys(user_id))
        request = {
            "Keys": [key(f"USER#{user_id}", sk) for sk in ("TOTP", "RECOVERY")],
            "ConsistentRead": True,
        }
        items = self._batch_items(request)
        while items[1]:  # keys DynamoDB left unprocessed (rare): asked again
            more = self._batch_items(items[1])
            items = (items[0] + more[0], more[1])
        by_sort = {str(item["SK"]): item for item in items[0]}
        totp = by_sort.get("TOTP", {})
        return EnrolledFactors(
            passkeys=passkeys,
            totp=totp.get("secret_sealed") is not None,
            recovery_codes=len(by_sort.get("RECOVERY", {}).get("codes", ())),
        )

    def _batch_items(self, request: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        answer: Any = self._calls.call("batch_get_item", RequestItems={self._table: request})
        found = [deserialize(item) for item in answer.get("Responses", {}).get(self._table, [])]
        left = answer.get("UnprocessedKeys", {}).get(self._table)
        return found, ({**left, "ConsistentRead": True} if left else None)
