"""Account deletion in DynamoDB: a user's messages and audit events lose what identifies them, and their
codes go.

Both are found through `GSI1` (`MSGBY#<user>`, `AUDIT#<user>`), which is eventually consistent: an
item written a moment before the deletion may be missed by one call (a second call finds it). Messages
stored before messages had that index key get it from `index_older_messages` (`twostep storage migrate`).
"""

from __future__ import annotations

import logging
from typing import Any

from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import ConditionFailed, deserialize, key, serialize
from twostep.storage.dynamodb_schema import GSI1

logger = logging.getLogger("twostep.storage")

# Written once `index_older_messages` has run to the end, so a later migration skips it.
MESSAGES_INDEXED = ("CONFIG", "MESSAGE_AUTHOR_INDEX")


class ErasureOps(TableOps):
    def _index_keys(self, partition: str) -> list[tuple[str, str]]:
        """(PK, SK) of every item whose GSI1PK is `partition`, all pages."""
        items = self._query_all(
            "GSI1PK = :p", {":p": partition}, IndexName=GSI1, ProjectionExpression="PK, SK"
        )
        return [(item["PK"], item["SK"]) for item in items]

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

    def _erase_challenges_of(self, user_id: str) -> None:
        """The account's codes (`CHALLENGEBY#<user>`; those stored before that key expire by their TTL)."""
        for pk, sk in self._index_keys(f"CHALLENGEBY#{user_id}"):
            self._calls.call("delete_item", TableName=self._table, Key=key(pk, sk))

    def index_older_messages(self) -> int:
        """Give every message stored without its per-author index key (`MSGBY#<user>`, written since
        sessions came) that key, so account deletion finds it; returns how many. Runs once, from
        `migrate`: it pages through the message partition (a Query, never a scan) and then leaves a marker.

        A message anonymised before this ran has no index key either; its user id is already a pseudonym,
        so the key it gets names no account and nothing ever looks it up.
        """
        if self._get(*MESSAGES_INDEXED) is not None:
            return 0
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :p",
            "FilterExpression": "attribute_not_exists(GSI1PK)",
            "ProjectionExpression": "PK, SK, user_id",
            "ExpressionAttributeValues": serialize({":p": "MESSAGES"}),
        }
        indexed = 0
        while True:
            answer = self._calls.call("query", **query)
            for item in map(deserialize, answer.get("Items", [])):
                indexed += self._index_message(item["PK"], item["SK"], item["user_id"])
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        self._put({"PK": MESSAGES_INDEXED[0], "SK": MESSAGES_INDEXED[1], "messages": indexed})
        logger.info("older messages indexed by author for account deletion", extra={"messages": indexed})
        return indexed

    def _index_message(self, pk: str, sk: str, user_id: str) -> int:
        """1 when this call gave the message its key; 0 when it is gone or already has one (a race)."""
        try:
            self._calls.call(
                "update_item",
                TableName=self._table,
                Key=key(pk, sk),
                UpdateExpression="SET GSI1PK = :g, GSI1SK = :s",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(GSI1PK)",
                ExpressionAttributeValues=serialize({":g": f"MSGBY#{user_id}", ":s": sk}),
            )
        except ConditionFailed:
            return 0
        return 1
