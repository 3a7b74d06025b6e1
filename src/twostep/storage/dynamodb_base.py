"""Table plumbing shared by the DynamoDB storage mixins: typed calls on one table."""

from __future__ import annotations

from typing import Any

from twostep.domain.models import User
from twostep.storage.dynamodb_client import DynamoCalls, deserialize, key, serialize
from twostep.storage.dynamodb_codec import Codec

QUERY_PAGE_ITEMS = 1000  # items per Query page of `_query_all` (DynamoDB also ends a page at 1 MB)


class TableOps:
    """Low-level item operations on `_table`; every call maps errors through `DynamoCalls`."""

    def __init__(self, calls: DynamoCalls, table: str, codec: Codec) -> None:
        self._calls = calls
        self._table = table
        self._codec = codec

    def _unchanged_condition(self, account: User) -> tuple[str, dict[str, Any]]:
        """A condition on the account's profile item that holds while it has `account`'s password hash,
        address and number (by its index: a number sealed with KMS reads differently each time), and its
        values (`:h`, `:e`, `:p`)."""
        values: dict[str, Any] = {":h": account.password_hash, ":e": account.email}
        phone = "attribute_not_exists(phone_index)"
        if account.phone is not None:
            phone, values[":p"] = "phone_index = :p", self._codec.phone_index(account.phone)
        return f"password_hash = :h AND email = :e AND {phone}", values

    def _unchanged_check(self, account: User) -> dict[str, Any]:
        """`_unchanged_condition` as a transaction's item. A transaction is serialised with the profile's
        updates, so a change either refuses what the transaction writes (a session, a remembered device)
        or, committed after it, finds it (to end or forget it)."""
        condition, values = self._unchanged_condition(account)
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": key(f"USER#{account.id}", "PROFILE"),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": serialize(values),
            }
        }

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        answer = self._calls.call("get_item", TableName=self._table, Key=key(pk, sk), ConsistentRead=True)
        item = answer.get("Item")
        return None if item is None else deserialize(item)

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of up to 100 keys in one BatchGetItem (one GetItem each cost a request per item),
        asking again for any DynamoDB leaves unprocessed; in no particular order."""
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        items: list[dict[str, Any]] = []
        while request:
            answer = self._calls.call("batch_get_item", RequestItems=request)
            items += map(deserialize, answer.get("Responses", {}).get(self._table, []))
            request = answer.get("UnprocessedKeys") or {}
        return items

    def _put(self, item: dict[str, Any], condition: str | None = None) -> None:
        extra = {"ConditionExpression": condition} if condition else {}
        self._calls.call("put_item", TableName=self._table, Item=serialize(item), **extra)

    def _update(self, pk: str, sk: str, expression: str, values: dict[str, Any], **kw: Any) -> Any:
        answer = self._calls.call(
            "update_item",
            TableName=self._table,
            Key=key(pk, sk),
            UpdateExpression=expression,
            ExpressionAttributeValues=serialize(values),
            **kw,
        )
        attributes = answer.get("Attributes")
        return None if attributes is None else deserialize(attributes)

    def _query(self, condition: str, values: dict[str, Any], limit: int, **kw: Any) -> list[dict[str, Any]]:
        """The first `limit` items the key condition matches (fewer only when there are no more).

        DynamoDB ends a page at 1 MB read as well (before any projection), so `limit` items can take more
        than one Query: a single page gave `audit tail --last 10000` some 3,000 events, and a purge batch
        that came back short ended `storage purge` as if nothing were left."""
        request = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": serialize(values),
            **kw,
        }
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            answer = self._calls.call("query", Limit=limit - len(items), **request)
            items += [deserialize(item) for item in answer.get("Items", [])]
            if "LastEvaluatedKey" not in answer:
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return items

    def _query_all(self, condition: str, values: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
        """Every item the key condition matches, page by page. One Query answers one page only, so what
        must see every item of an account (its sessions to end, its devices to forget, what its deletion
        erases) follows `LastEvaluatedKey` to the end; a single page missed the rest."""
        request = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": serialize(values),
            "Limit": QUERY_PAGE_ITEMS,
            **kw,
        }
        items: list[dict[str, Any]] = []
        while True:
            answer = self._calls.call("query", **request)
            items += [deserialize(item) for item in answer.get("Items", [])]
            if "LastEvaluatedKey" not in answer:
                return items
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _transact(self, *items: dict[str, Any]) -> None:
        self._calls.call("transact_write_items", TransactItems=list(items))

    def _tput(
        self, item: dict[str, Any], condition: str | None = None, values: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "Item": serialize(item)}
        if condition:
            put["ConditionExpression"] = condition
        if values:
            put["ExpressionAttributeValues"] = serialize(values)
        return {"Put": put}

    def _tdelete(
        self, pk: str, sk: str, condition: str | None = None, values: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        delete: dict[str, Any] = {"TableName": self._table, "Key": key(pk, sk)}
        if condition:
            delete["ConditionExpression"] = condition
        if values:
            delete["ExpressionAttributeValues"] = serialize(values)
        return {"Delete": delete}
