"""An account's sessions in the order `GET /sessions` pages them, on DynamoDB.

The session items (`USER#<id>` / `SESSION#<id>`) are keyed by id, so a page of them in time order meant
reading them all. Each live session also has a pointer keyed by its start:

| item | PK | SK | notes |
|---|---|---|---|
| session pointer | `USER#<id>` | `SESSIONAT#<start, µs, 16 digits>#<session id>` | written with the session, deleted when it ends; ttl at its expiry |
| pointers complete | `USER#<id>` | `SESSIONAT$` | sessions stored before pointers existed have theirs |

A page is one Query of the pointers, newest first below the cursor's key, and one BatchGetItem of the
page's session items: what it reads grows with the page, not with the account. Sessions stored by older
versions have no pointer: a first page (one GetItem of the marker) of an account without the marker reads
its session items once (as every page did before), writes the missing pointers, then the marker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from twostep.domain.models import Page, Session
from twostep.storage.cursors import parse_message_cursor, session_cursor
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import (
    deserialize,
    key,
    maybe_datetime,
    serialize,
    to_datetime,
    to_number,
    ttl_after,
)

POINTER_PREFIX = "SESSIONAT#"
POINTERS_COMPLETE = "SESSIONAT$"  # sorts after every pointer
BATCH_GET_LIMIT = 100  # DynamoDB's keys per BatchGetItem
TRANSACTION_ITEMS = 100  # DynamoDB's items per TransactWriteItems
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def session_item(s: Session, ttl: int) -> dict[str, Any]:
    return {
        "PK": f"USER#{s.user_id}",
        "SK": f"SESSION#{s.id}",
        "session_id": s.id,
        "user_id": s.user_id,
        "created_at": to_number(s.created_at),
        "expires_at": to_number(s.expires_at),
        "auth_time": to_number(s.auth_time),
        "amr": ",".join(s.amr),
        "last_used_at": to_number(s.last_used_at),
        "client": s.client,
        "ip": s.ip,
        "revoked_at": None if s.revoked_at is None else to_number(s.revoked_at),
        "ttl": ttl,
    }


def session(item: dict[str, Any]) -> Session:
    return Session(
        id=item["session_id"],
        user_id=item["user_id"],
        created_at=to_datetime(item["created_at"]),
        expires_at=to_datetime(item["expires_at"]),
        auth_time=to_datetime(item["auth_time"]),
        amr=tuple(str(item["amr"]).split(",")) if item.get("amr") else (),
        last_used_at=to_datetime(item["last_used_at"]),
        client=item.get("client"),
        ip=item.get("ip"),
        revoked_at=maybe_datetime(item.get("revoked_at")),
    )


def pointer_sk(created_at: datetime, session_id: str) -> str:
    """Fixed-width microseconds, then the id: the key's order is (start, id), as the cursors compare."""
    return f"{POINTER_PREFIX}{(created_at - _EPOCH) // timedelta(microseconds=1):016d}#{session_id}"


def session_pointer(s: Session) -> dict[str, Any]:
    return {
        "PK": f"USER#{s.user_id}",
        "SK": pointer_sk(s.created_at, s.id),
        "session_id": s.id,
        "expires_at": to_number(s.expires_at),
        "ttl": ttl_after(s.expires_at, 0),  # useless once the session is over
    }


def _cursor_sk(cursor: str) -> str:
    """The pointer key a cursor names. Raises: InvalidInput (not a cursor)."""
    created, session_id = parse_message_cursor(cursor)  # below LATEST_START: 16 digits of µs at most
    return f"{POINTER_PREFIX}{round(created * 1e6):016d}#{session_id}"


class SessionIndexOps(TableOps):
    def _pointer_delete(self, s: Session) -> dict[str, Any]:
        """A transaction item deleting the session's pointer (it ends)."""
        return {
            "Delete": {
                "TableName": self._table,
                "Key": key(f"USER#{s.user_id}", pointer_sk(s.created_at, s.id)),
            }
        }

    def page_sessions(
        self, user_id: str, now: datetime, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        upper = POINTERS_COMPLETE if cursor is None else _cursor_sk(cursor)
        if cursor is None and not self._pointers_complete(user_id):
            self._point_older_sessions(user_id, now)
        sessions: list[Session] = []
        while len(sessions) <= limit:
            # Rarely more than one round: only a pointer left by a session ended meanwhile reads short.
            pointers, exhausted = self._live_pointers(user_id, now, upper, limit + 1 - len(sessions))
            sessions += self._sessions_pointed(user_id, [p["session_id"] for p in pointers], now)
            if exhausted or not pointers:
                break
            upper = pointers[-1]["SK"]
        items = sessions[:limit]
        return Page(items, session_cursor(items[-1]) if len(sessions) > limit else None)

    def _pointers_complete(self, user_id: str) -> bool:
        return self._get(f"USER#{user_id}", POINTERS_COMPLETE) is not None

    def _live_pointers(
        self, user_id: str, now: datetime, upper: str, wanted: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to `wanted` pointers of unexpired sessions below `upper`, newest first; and whether there
        are no more."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :p AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": serialize(
                {":p": f"USER#{user_id}", ":lo": POINTER_PREFIX, ":hi": upper}
            ),
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": wanted + 1,  # the item at `upper` (the cursor's or the marker) comes back too
        }
        pointers: list[dict[str, Any]] = []
        while True:
            answer = self._calls.call("query", **query)
            for item in map(deserialize, answer.get("Items", [])):
                if (
                    item["SK"] != upper
                    and item["SK"] != POINTERS_COMPLETE
                    and item["expires_at"] > to_number(now)
                ):
                    pointers.append(item)
            if "LastEvaluatedKey" not in answer:
                return pointers[:wanted], len(pointers) <= wanted
            if len(pointers) >= wanted:
                return pointers[:wanted], False
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _sessions_pointed(self, user_id: str, session_ids: list[str], now: datetime) -> list[Session]:
        """The live sessions of these ids, in the given order (one BatchGetItem per 100)."""
        found: dict[str, Session] = {}
        for start in range(0, len(session_ids), BATCH_GET_LIMIT):
            keys = [
                key(f"USER#{user_id}", f"SESSION#{i}") for i in session_ids[start : start + BATCH_GET_LIMIT]
            ]
            for item in self._batch_get(keys):
                s = session(item)
                found[s.id] = s
        live = (found.get(i) for i in session_ids)
        return [s for s in live if s is not None and s.revoked_at is None and s.expires_at > now]

    def _point_older_sessions(self, user_id: str, now: datetime) -> None:
        """Once per account: a pointer for each live session stored before pointers existed (a pointer
        written again is the same item), then the marker."""
        older = self.list_sessions(user_id, now)  # type: ignore[attr-defined]
        # Transactions, not BatchWriteItem: the functions' IAM grants allow the item writes only.
        for start in range(0, len(older), TRANSACTION_ITEMS):
            self._transact(
                *(self._tput(session_pointer(s)) for s in older[start : start + TRANSACTION_ITEMS])
            )
        self._put({"PK": f"USER#{user_id}", "SK": POINTERS_COMPLETE})

    def _forget_pointers_complete(self, user_id: str) -> None:
        """A deleted account's marker goes with it."""
        self._calls.call("delete_item", TableName=self._table, Key=key(f"USER#{user_id}", POINTERS_COMPLETE))
