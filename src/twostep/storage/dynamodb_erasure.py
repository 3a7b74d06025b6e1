"""Account deletion in DynamoDB: a user's messages and audit events lose what identifies them.

Both are found through `GSI1` (`MSGBY#<user>`, `AUDIT#<user>`), which is eventually consistent: an
item written a moment before the deletion may be missed by one call (a second call finds it).
"""

from __future__ import annotations

from typing import Any

from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import deserialize, key, serialize
from twostep.storage.dynamodb_schema import GSI1


class ErasureOps(TableOps):
    def _index_keys(self, partition: str) -> list[tuple[str, str]]:
        """(PK, SK) of every item whose GSI1PK is `partition`, all pages."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": GSI1,
            "KeyConditionExpression": "GSI1PK = :p",
            "ExpressionAttributeValues": serialize({":p": partition}),
            "ProjectionExpression": "PK, SK",
        }
        keys: list[tuple[str, str]] = []
        while True:
            answer = self._calls.call("query", **query)
            keys += [(item["PK"], item["SK"]) for item in map(deserialize, answer.get("Items", []))]
            if "LastEvaluatedKey" not in answer:
                return keys
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def anonymise_messages(self, user_id: str, author: str, pseudonym: str) -> int:
        keys = self._index_keys(f"MSGBY#{user_id}")
        for pk, sk in keys:
            self._calls.call(
                "update_item",
                TableName=self._table,
                Key=key(pk, sk),
                UpdateExpression="SET user_id = :p, author = :a REMOVE GSI1PK, GSI1SK",
                ExpressionAttributeValues=serialize({":p": pseudonym, ":a": author}),
            )
        return len(keys)

    def pseudonymise_audit(self, user_id: str, pseudonym: str) -> int:
        keys = self._index_keys(f"AUDIT#{user_id}")
        for pk, sk in keys:
            self._calls.call(
                "update_item",
                TableName=self._table,
                Key=key(pk, sk),
                UpdateExpression="SET user_id = :p, GSI1PK = :g REMOVE email_hash, phone_masked, ip",
                ExpressionAttributeValues=serialize({":p": pseudonym, ":g": f"AUDIT#{pseudonym}"}),
            )
        return len(keys)
