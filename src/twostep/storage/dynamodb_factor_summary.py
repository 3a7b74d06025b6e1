"""DynamoDB: the enrolled second factors (`enrolled_factors`): whether the user has a passkey (one of its
pointers, and the passkey it points to), and the authenticator-app and recovery-code items of the user's
partition, read in one BatchGetItem (strongly consistent)."""

from __future__ import annotations

from typing import Any

from twostep.domain.factor_summary import EnrolledFactors
from twostep.storage.dynamodb_client import deserialize, key
from twostep.storage.dynamodb_passkeys import PasskeyOps


class FactorSummaryOps(PasskeyOps):
    def enrolled_factors(self, user_id: str) -> EnrolledFactors:
        # One pointer of the user's passkeys (a Query of one item), then its passkey with the TOTP and
        # recovery-code items in one BatchGetItem: two requests however many passkeys the account has,
        # where every passkey was read, one GetItem each, at every sign-in.
        pointer = self._query(
            "PK = :p AND begins_with(SK, :k)",
            {":p": f"USER#{user_id}", ":k": "PASSKEY#"},
            1,
            ConsistentRead=True,
        )
        keys = [key(f"USER#{user_id}", sk) for sk in ("TOTP", "RECOVERY")]
        keys += [key(f"PASSKEY#{p['credential_id']}", "PASSKEY") for p in pointer]
        items = self._batch_items({"Keys": keys, "ConsistentRead": True})
        while items[1]:  # keys DynamoDB left unprocessed (rare): asked again
            more = self._batch_items(items[1])
            items = (items[0] + more[0], more[1])
        by_sort = {str(item["SK"]): item for item in items[0]}
        totp = by_sort.get("TOTP", {})
        passkeys = by_sort.get("PASSKEY", {}).get("user_id") == user_id
        if pointer and not passkeys:  # a stale pointer (its passkey gone or another's): look at them all
            passkeys = bool(self.list_passkeys(user_id))
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
