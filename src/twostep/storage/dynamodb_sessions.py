"""Sessions in DynamoDB: `USER#<id>` / `SESSION#<id>` items, ended by the family item plus a list entry.

The family item (`FAMILY#<id>`) stays the authority that refresh-token claims check; ending a session
sets its `revoked_at` and writes the revocation-list entry in one transaction, then marks the
session item (what `GET /sessions` shows) revoked as well.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from twostep.domain.models import AuditEvent, RefreshToken, Revocation, Session, User
from twostep.storage import dynamodb_codec as codec
from twostep.storage.dynamodb_client import (
    ConditionFailed,
    key,
    serialize,
    timed_sequence,
    to_number,
)
from twostep.storage.dynamodb_revocations import read_revocations, revocation_item
from twostep.storage.dynamodb_session_index import (
    SessionIndexOps,
    session,
    session_item,
    session_pointer,
)

END_BATCH = 25  # sessions `end_sessions` ends per transaction: four items each of the 100 one holds
FORGET_BATCH = 100  # session items a deletion strips of their client details per transaction
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # `end_sessions` after it: every session not ended, expired too
SESSION_AUDITS = 94  # a TransactWriteItems holds 100 items; a session takes 5, its account's check 1


class SessionOps(SessionIndexOps):
    def add_session(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent] = (),
        unchanged: User | None = None,
    ) -> bool:
        try:
            self._transact(*self._session_items(session, first_token, audits, unchanged))
        except ConditionFailed as failed:
            # The account's check comes last; the new items' own conditions fail only on a taken id.
            if unchanged is not None and failed.last_item_failed:
                return False
            raise
        return True

    def _session_items(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent],
        unchanged: User | None = None,
    ) -> list[dict[str, Any]]:
        """The transaction items of a new session: its first refresh token, its family, the session and
        its pointer by start (for `page_sessions`), the account's pointer to the family, and the step's
        audit events; with `unchanged`, the check
        that the account still has the credentials the sign-in checked."""
        if len(audits) > SESSION_AUDITS:
            raise ValueError(f"a session is stored with at most {SESSION_AUDITS} audit events")
        ttl = self._codec.retention.ended(session.expires_at)
        family_pointer = {
            "PK": f"USER#{session.user_id}",
            "SK": f"FAMILY#{session.id}",
            "family_id": session.id,
            "ttl": ttl,
        }
        return [
            self._tput(codec.refresh_item(first_token, self._codec.retention), "attribute_not_exists(PK)"),
            self._tput(
                {"PK": f"FAMILY#{session.id}", "SK": "FAMILY", "user_id": session.user_id, "ttl": ttl}
            ),
            self._tput(session_item(session, ttl), "attribute_not_exists(PK)"),
            self._tput(session_pointer(session)),
            self._tput(family_pointer),
            *(self._tput(codec.audit_item(e, timed_sequence(e.at), self._codec.retention)) for e in audits),
            *([] if unchanged is None else [self._unchanged_check(unchanged)]),
        ]

    def get_session(self, user_id: str, session_id: str) -> Session | None:
        item = self._get(f"USER#{user_id}", f"SESSION#{session_id}")
        return None if item is None else session(item)

    def touch_session(self, user_id: str, session_id: str, now: datetime) -> Session | None:
        try:
            item = self._update(
                f"USER#{user_id}",
                f"SESSION#{session_id}",
                "SET last_used_at = :now",
                {":now": to_number(now)},
                ConditionExpression="attribute_exists(PK)",
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            return None
        return session(item)

    def list_sessions(self, user_id: str, now: datetime) -> list[Session]:
        items = self._query_all(
            "PK = :p AND begins_with(SK, :s)",
            {":p": f"USER#{user_id}", ":s": "SESSION#"},
            ConsistentRead=True,
        )
        live = [s for s in map(session, items) if s.revoked_at is None and s.expires_at > now]
        return sorted(live, key=lambda s: (s.created_at, s.id), reverse=True)

    def list_revocations(self, since: datetime) -> list[Revocation]:
        return read_revocations(self._calls, self._table, since)

    def revoke_family(self, family_id: str, now: datetime) -> bool:
        family = self._get(f"FAMILY#{family_id}", "FAMILY")
        if family is None:
            return False  # no token was ever issued in this family
        try:
            self._transact(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(f"FAMILY#{family_id}", "FAMILY"),
                        "UpdateExpression": "SET revoked_at = :now",
                        "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(revoked_at)",
                        "ExpressionAttributeValues": serialize({":now": to_number(now)}),
                    }
                },
                self._tput(revocation_item(family_id, now)),
            )
            ended = True
        except ConditionFailed:
            ended = False  # ended before; the session item below may still need its mark (a retry)
        with contextlib.suppress(ConditionFailed):  # sessions from before session items existed
            marked = self._update(
                f"USER#{family['user_id']}",
                f"SESSION#{family_id}",
                "SET revoked_at = if_not_exists(revoked_at, :now)",
                {":now": to_number(now)},
                ConditionExpression="attribute_exists(PK)",
                ReturnValues="ALL_NEW",
            )
            self._calls.call(
                "delete_item", **self._pointer_delete(session(marked))["Delete"]
            )  # off the pages
        return ended

    def end_sessions(
        self, user_id: str, now: datetime, live_after: datetime, keep: str | None = None
    ) -> list[str]:
        # A transaction per `END_BATCH` sessions (one per session, plus a read and a write, made 9,000
        # requests of 3,000 sessions). A batch that meets a session ended meanwhile writes nothing and
        # goes session by session, so the answer counts only what this call ended.
        ending = [s for s in self.list_sessions(user_id, live_after) if s.id != keep]
        ended: list[str] = []
        for start in range(0, len(ending), END_BATCH):
            batch = ending[start : start + END_BATCH]
            try:
                self._transact(*(item for s in batch for item in self._ending_items(s, now)))
                ended += [s.id for s in batch]
            except ConditionFailed:
                ended += [s.id for s in batch if self.revoke_family(s.id, now)]
        return ended

    def _ending_items(self, s: Session, now: datetime) -> list[dict[str, Any]]:
        """What `revoke_family` writes for a live session, as transaction items: its family's mark, its
        revocation-list entry, its own mark, which holds only while no one else ended it, and the removal
        of its pointer by start."""
        at = serialize({":now": to_number(now)})
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": key(f"FAMILY#{s.id}", "FAMILY"),
                    "UpdateExpression": "SET revoked_at = :now",
                    "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(revoked_at)",
                    "ExpressionAttributeValues": at,
                }
            },
            self._tput(revocation_item(s.id, now)),
            {
                "Update": {
                    "TableName": self._table,
                    "Key": key(f"USER#{s.user_id}", f"SESSION#{s.id}"),
                    "UpdateExpression": "SET revoked_at = :now",
                    "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(revoked_at)",
                    "ExpressionAttributeValues": at,
                }
            },
            self._pointer_delete(s),
        ]

    def _end_every_session_of(self, user_id: str, now: datetime) -> None:
        """A deletion's end of every session, expired ones too, and of what they said about devices
        (client, truncated IP), in batches: one request per session (three per family) made 24,000 of an
        account with 3,000 sessions, its deletion running this twice. A family no session item shows
        ended (one from before session items) is ended on its own."""
        self.end_sessions(user_id, now, EPOCH)
        items = self._query_all(
            "PK = :p AND begins_with(SK, :s)",
            {":p": f"USER#{user_id}", ":s": "SESSION#"},
            ConsistentRead=True,
        )
        ended = {item["session_id"] for item in items if item.get("revoked_at") is not None}
        families = self._query_all(
            "PK = :p AND begins_with(SK, :f)", {":p": f"USER#{user_id}", ":f": "FAMILY#"}, ConsistentRead=True
        )
        for family in families:
            if family["family_id"] not in ended:
                self.revoke_family(family["family_id"], now)
        self._forget_session_details(user_id)
        self._forget_pointers_complete(user_id)

    def _forget_session_details(self, user_id: str) -> None:
        """Drop what a deleted user's sessions said about their devices (client, truncated IP)."""
        items = self._query_all(
            "PK = :p AND begins_with(SK, :s)",
            {":p": f"USER#{user_id}", ":s": "SESSION#"},
            ConsistentRead=True,
        )
        telling = [item for item in items if item.get("client") is not None or item.get("ip") is not None]
        for start in range(0, len(telling), FORGET_BATCH):
            self._transact(
                *(
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": key(item["PK"], item["SK"]),
                            "UpdateExpression": "REMOVE client, ip",
                        }
                    }
                    for item in telling[start : start + FORGET_BATCH]
                )
            )
