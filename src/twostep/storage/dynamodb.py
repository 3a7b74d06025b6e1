"""DynamoDB storage: one table, every state change one conditional write or one transaction.

Key schema (table `TWOSTEP_DYNAMODB_TABLE`; string keys `PK`/`SK`, sparse index `GSI1` on
`GSI1PK`/`GSI1SK`, TTL attribute `ttl` in epoch seconds, set from TWOSTEP_PURGE_GRACE_SECONDS ("the grace")
and TWOSTEP_AUDIT_RETENTION_DAYS (`dynamodb_codec.Retention`); expiry is still checked in code because TTL
deletes lag by up to a few days):

| item | PK | SK | GSI1PK / GSI1SK | notes |
|---|---|---|---|---|
| user | `USER#<id>` | `PROFILE` | `USERS` / `<id>` | phone plain, or sealed with KMS (`phone_ct`, `phone_dk`) |
| email uniqueness | `EMAIL#<email>` | `EMAIL` | | `user_id`; written with the user in one transaction |
| proven phone | `PHONE#<e164 or h:hmac>` | `PHONE` | | `user_id` of the one owner; HMAC of the number when KMS is on |
| phone claim | `PHONECLAIM#<e164 or h:hmac>` | `USER#<id>` | | an unproven claim; dropped when another account proves the number |
| challenge | `CHALLENGE#<id>` | `CHALLENGE` | `CHALLENGEBY#<user>` / `<id>` | single use by condition; ttl grace |
| refresh token | `REFRESH#<sha256>` | `REFRESH` | | used_at set by a transaction that checks the family |
| token family | `FAMILY#<id>` | `FAMILY` | | `revoked_at` revokes every token of the family |
| user's families | `USER#<id>` | `FAMILY#<id>` | | lets `delete_user` revoke sessions with a Query |
| session | `USER#<id>` | `SESSION#<id>` | | created, last used, client, truncated IP, revoked_at |
| session by start | `USER#<id>` | `SESSIONAT#<µs>#<id>` | | pages `GET /sessions`; see dynamodb_session_index.py |
| revocation list | `REVOKED` | `<µs>#<session id>` | | recently ended sessions; ttl 2 days (past any access token) |
| message | `MESSAGES` | `<µs>#<id>` | `MSGBY#<user id>` / `<µs>#<id>` | board: Query newest first |
| outbox (dev) | `OUTBOX` | `<seq>` | `OUTBOX#<to>` / `<seq>` | console provider only; ttl 7 days or the grace if longer |
| counter | `COUNTER#<key>` | `COUNTER` | | `ADD v`; restarts after `expires_at` |
| audit | `AUDIT` | `<seq>` | `AUDIT#<user id>` / `<seq>` | ttl the audit retention |
| shared keys | `KEYS` | `KEYS` | | sealed key material; replaced only over the version read |
| table settings | `CONFIG` | `PHONE_SEALING` / `TIME_TO_LIVE` | | numbers sealed with KMS; TTL seen on (dynamodb_schema.py) |
| prefix block | `PREFIXBLOCK#<prefix>` | `BLOCK` | `PREFIXBLOCKS` / `<prefix>` | fraud guard; ttl the grace past `until` |
| delivery | `DELIVERY#<provider>#<message id>` | `DELIVERY` | `DELIVERIES#<challenge id>` / `<µs>#…` | receipts; ttl the grace past `expires_at` |
| idempotency key | `IDEMPOTENCY#<hmac>` | `IDEMPOTENCY` | | first answer to an `Idempotency-Key`; ttl at expiry |
| second factors | see dynamodb_factors.py and dynamodb_passkeys.py | | | |

No Scan anywhere: `list_users` (CLI only) Queries the sparse `USERS` index, per-number outbox and
per-user audit lists Query `GSI1` (eventually consistent: a just-written entry may need a moment).
The `MESSAGES`, `OUTBOX` and `AUDIT` partitions are single partitions: fine up to ~1000 writes/s each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from twostep.domain.counter_batch import CounterChange, Unless, check_unlimited
from twostep.domain.errors import ConfigurationError, StorageUnavailable
from twostep.domain.models import (
    AuditEvent,
    Challenge,
    CodeUse,
    Message,
    OutboxEntry,
    Page,
    RefreshToken,
    Session,
    User,
)
from twostep.domain.receipts import Delivery
from twostep.settings import Settings
from twostep.storage import dynamodb_codec as codec
from twostep.storage.cursors import message_cursor, parse_message_cursor
from twostep.storage.dynamodb_blocks import PrefixBlockOps
from twostep.storage.dynamodb_client import (
    CLIENT_CONFIG,
    ConditionFailed,
    DynamoCalls,
    key,
    serialize,
    timed_sequence,
    to_number,
)
from twostep.storage.dynamodb_counter_batch import TRANSACTION_ITEMS, CounterBatchOps
from twostep.storage.dynamodb_deliveries import FIRST_RECORD, DeliveryOps, delivery_item
from twostep.storage.dynamodb_erasure import ErasureOps
from twostep.storage.dynamodb_factor_summary import FactorSummaryOps
from twostep.storage.dynamodb_factors import FactorOps
from twostep.storage.dynamodb_idempotency import IdempotencyOps
from twostep.storage.dynamodb_schema import GSI1, TableState, create_table, ensure_time_to_live, table_state
from twostep.storage.dynamodb_sessions import SessionOps
from twostep.storage.dynamodb_tokens import RefreshTokenOps
from twostep.storage.dynamodb_upkeep import UpkeepOps
from twostep.storage.dynamodb_users import UserOps
from twostep.storage.phone_crypto import PhoneCipher, derive_phone_index_key
from twostep.storage.sign_in_counts import CountsThenAccount

_NOT_CONSUMED = "attribute_exists(PK) AND attribute_not_exists(consumed_at)"
# A challenge that can take an attempt at `:now`: unconsumed, unexpired, under its attempt budget.
_OPEN = f"{_NOT_CONSUMED} AND expires_at > :now AND attempts < max_attempts"
# A right code's use: the attempt counted and the challenge consumed in one write.
_USE = "ADD attempts :one SET consumed_at = :now"

logger = logging.getLogger("twostep.storage")


class DynamoDbStorage(
    UserOps,
    SessionOps,
    RefreshTokenOps,
    ErasureOps,
    CounterBatchOps,
    PrefixBlockOps,
    UpkeepOps,
    FactorOps,
    FactorSummaryOps,
    DeliveryOps,
    IdempotencyOps,
    CountsThenAccount,
):
    """Satisfies every storage port over one boto3 client (thread-safe)."""

    def __init__(
        self,
        client: Any,
        table: str,
        cipher: PhoneCipher | None = None,
        retention: codec.Retention | None = None,
    ) -> None:
        super().__init__(DynamoCalls(client), table, codec.Codec(cipher, retention))

    def add_session_counted(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent],
        changes: Sequence[CounterChange],
        now: datetime,
        unless: Sequence[Unless] = (),
        consuming: CodeUse | None = None,
        unchanged: User | None = None,
    ) -> bool:
        # One transaction: the counters, the code's use, the session's items and events, and the
        # account's check. (A failed condition of a new session's item, which fresh ids make impossible,
        # would read as held back, as a changed account does.)
        check_unlimited(changes)
        also = [] if consuming is None else [self._code_use_item(consuming)]
        also += self._session_items(session, first_token, audits, unchanged)
        return not self.change_counters_with(changes, now, unless, also).stopped

    def _code_use_item(self, use: CodeUse) -> dict[str, Any]:
        """The transaction item consuming a challenge as `use` says (`CodeUse`), its attempt counted."""
        # Challenges stored before channels were recorded have none: they were texts.
        channel = "channel = :ch" + (" OR attribute_not_exists(channel)" if use.channel == "sms" else "")
        values = {":one": 1, ":now": to_number(use.at), ":h": use.code_hmac, ":ch": use.channel}
        return {
            "Update": {
                "TableName": self._table,
                "Key": key(f"CHALLENGE#{use.challenge_id}", "CHALLENGE"),
                "UpdateExpression": _USE,
                "ConditionExpression": f"{_OPEN} AND code_hmac = :h AND ({channel})",
                "ExpressionAttributeValues": serialize(values),
            }
        }

    @classmethod
    def from_settings(cls, settings: Settings, *, boto_session: Any = None) -> DynamoDbStorage:
        """The storage for `TWOSTEP_DYNAMODB_TABLE`; `AWS_ENDPOINT_URL` points it at a local server.

        Raises:
            SecretStoreUnavailable: KMS is on and the key material (for the phone hash) is unreachable.
        """
        from twostep.aws_session import aws_session

        session = aws_session(boto_session, settings.aws_region, "TWOSTEP_STORAGE=dynamodb")
        cipher = None
        if settings.kms_key_id:
            from twostep.domain.clock import SystemClock

            if not settings.secret_arn:  # the phone index key comes from the secret's code HMAC key
                raise ConfigurationError("TWOSTEP_KMS_KEY_ID: needs TWOSTEP_SECRET_ARN (the key material)")
            from twostep.secrets import load_key_material

            material = load_key_material(settings, SystemClock(), boto_session=session)
            cipher = PhoneCipher(
                session.client("kms", config=CLIENT_CONFIG),
                settings.kms_key_id,
                derive_phone_index_key(material.otp_hmac_key),
            )
        # The TTLs keep what the other backends' purge keeps (docs/operations.md, Housekeeping).
        retention = codec.Retention(settings.purge_grace_seconds, settings.audit_retention_days)
        return cls(
            session.client("dynamodb", config=CLIENT_CONFIG), settings.dynamodb_table, cipher, retention
        )

    def init_schema(self) -> None:
        """Create the table where missing, turn its TTL on until it was once seen on (an interrupted first
        start left it off), and check how it keeps phone numbers (see `_check_sealing`).

        Raises: StorageUnavailable; ConfigurationError (phone numbers sealed with KMS, no KMS key here).
        """
        state = table_state(self._calls, self._table)
        if state is TableState.MISSING:
            create_table(self._calls, self._table)
        elif state is TableState.TTL_UNCONFIRMED:
            self._try_time_to_live()
        self._check_sealing()

    def _try_time_to_live(self) -> None:
        """A start goes on when TTL cannot be turned on (a throttled call, a role that may describe but not
        update): the table works, only the deletion of expired items waits for the next start or for
        `twostep storage migrate`, which fails loudly instead."""
        try:
            ensure_time_to_live(self._calls, self._table)
        except StorageUnavailable as exc:
            logger.warning("DynamoDB TTL is still off (%s); the next start retries", exc.message)

    def _check_sealing(self) -> None:
        """A process with a KMS key marks the table; a process without one refuses a marked table at
        start-up, where each sealed phone number would otherwise read as "no phone" (and sign-ins fail
        quietly, or skip the second factor).

        A process with a KMS key refuses an unmarked table that already holds numbers stored plain: it
        keys a number's owner and claim items by the number's HMAC, where the plain-era items are keyed
        by the number itself, so a number proven before was free to be proven again (two accounts owning
        one number) and its claims were never dropped. Nothing re-keys them, so the table cannot switch.
        """
        if self._codec.cipher is not None:
            if self._get("CONFIG", "PHONE_SEALING") is None:
                if self._holds_plain_numbers():
                    raise ConfigurationError(
                        f"TWOSTEP_KMS_KEY_ID: the phone numbers in table {self._table} are stored without "
                        "KMS, and a table cannot switch to sealing them; start without TWOSTEP_KMS_KEY_ID, "
                        "or with a new table"
                    )
                self._put({"PK": "CONFIG", "SK": "PHONE_SEALING", "sealed_with": "kms"})
            return
        if self._get("CONFIG", "PHONE_SEALING") is not None:
            raise ConfigurationError(
                f"TWOSTEP_KMS_KEY_ID: the phone numbers in table {self._table} are sealed with KMS; "
                "start with the deployment's TWOSTEP_KMS_KEY_ID (and TWOSTEP_SECRET_ARN)"
            )

    def _holds_plain_numbers(self) -> bool:
        """Whether any account holds a number stored plain (a `phone` attribute rather than `phone_ct`).
        Asked only while the table is not marked as sealed, so once per table: the users are read page by
        page until the first with a plain number (in a table of accounts with numbers, the first page)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": GSI1,
            "KeyConditionExpression": "GSI1PK = :p",
            "FilterExpression": "attribute_exists(phone)",
            "ExpressionAttributeValues": {":p": {"S": "USERS"}},
            "ProjectionExpression": "PK",
        }
        while True:
            answer = self._calls.call("query", **request)
            if answer.get("Items"):
                return True
            if "LastEvaluatedKey" not in answer:
                return False
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def migrate(self) -> list[int]:
        """One schemaless table: creating it (with TTL on) is the whole schema, so no versions to apply.
        Data written by older versions is brought up to date once (`index_older_messages`)."""
        self.init_schema()
        ensure_time_to_live(self._calls, self._table)  # again, whatever the marker says: the operator's check
        self.index_older_messages()
        return []

    def ping(self) -> None:
        """The table answers and, with KMS on, the KMS key seals phone numbers."""
        self._get("HEALTH", "HEALTH")
        if self._codec.cipher is not None:
            self._codec.cipher.check()

    def close(self) -> None:
        """boto3 clients need no closing; the connection pool goes with the process."""

    # --- challenges ---
    def put_challenge(self, challenge: Challenge) -> None:
        self._put(self._codec.challenge_item(challenge))

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        item = self._get(f"CHALLENGE#{challenge_id}", "CHALLENGE")
        return None if item is None else self._codec.challenge(item)

    def get_challenge_with_account(self, challenge_id: str) -> tuple[Challenge | None, User | None]:
        """Two GetItems: the account's key is in the challenge (a sign-in reads both anyway)."""
        challenge = self.get_challenge(challenge_id)
        if challenge is None or challenge.purpose != "login":
            return challenge, None
        return challenge, self.get_user(challenge.subject)

    def _challenge_update(
        self, challenge_id: str, expression: str, values: dict[str, Any], condition: str
    ) -> Challenge | None:
        try:
            item = self._update(
                f"CHALLENGE#{challenge_id}",
                "CHALLENGE",
                expression,
                values,
                ConditionExpression=condition,
                ReturnValues="ALL_NEW",
                **({"ExpressionAttributeNames": {"#ttl": "ttl"}} if "#ttl" in expression else {}),
            )
        except ConditionFailed:
            return None
        return self._codec.challenge(item)

    def replace_code(
        self, challenge_id: str, code_hmac: str, expires_at: datetime, now: datetime, channel: str = "sms"
    ) -> Challenge | None:
        return self._challenge_update(
            challenge_id,
            "SET code_hmac = :h, expires_at = :e, last_sent_at = :now, #ttl = :ttl, channel = :ch ADD sends :one",
            {
                ":h": code_hmac,
                ":ch": channel,
                ":e": to_number(expires_at),
                ":now": to_number(now),
                ":ttl": self._codec.retention.ended(expires_at),
                ":one": 1,
            },
            _NOT_CONSUMED,
        )

    def put_back_code(
        self, challenge_id: str, replaced_hmac: str, code_hmac: str, expires_at: datetime, channel: str
    ) -> bool:
        restored = self._challenge_update(
            challenge_id,
            "SET code_hmac = :h, expires_at = :e, #ttl = :ttl, channel = :ch",
            {
                ":h": code_hmac,
                ":e": to_number(expires_at),
                ":ttl": self._codec.retention.ended(expires_at),
                ":ch": channel,
                ":replaced": replaced_hmac,
            },
            f"{_NOT_CONSUMED} AND code_hmac = :replaced",
        )
        return restored is not None

    def _arm_alone(self, challenge_id: str, code_hmac: str, expires_at: datetime) -> Challenge | None:
        """The arm without events: one conditional UpdateItem, which returns the stored record."""
        return self._challenge_update(
            challenge_id,
            "SET expires_at = :e, #ttl = :ttl",
            {
                ":e": to_number(expires_at),
                ":ttl": self._codec.retention.ended(expires_at),
                ":h": code_hmac,
            },
            f"{_NOT_CONSUMED} AND code_hmac = :h",
        )

    def arm_challenge_audited(self, challenge: Challenge, audits: Sequence[AuditEvent]) -> Challenge | None:
        """One TransactWriteItems: the conditional arm and the events' puts. A transaction returns no
        item, so the armed challenge is `challenge`: the condition (its code HMAC, unconsumed) held."""
        if not audits:
            return self._arm_alone(challenge.id, challenge.code_hmac, challenge.expires_at)
        if len(audits) >= TRANSACTION_ITEMS:
            raise ValueError(f"a code is armed with at most {TRANSACTION_ITEMS - 1} audit events")
        arm = {
            "TableName": self._table,
            "Key": key(f"CHALLENGE#{challenge.id}", "CHALLENGE"),
            "UpdateExpression": "SET expires_at = :e, #ttl = :ttl",
            "ConditionExpression": f"{_NOT_CONSUMED} AND code_hmac = :h",
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": serialize(
                {
                    ":e": to_number(challenge.expires_at),
                    ":ttl": self._codec.retention.ended(challenge.expires_at),
                    ":h": challenge.code_hmac,
                }
            ),
        }
        try:
            self._transact(
                {"Update": arm},
                *(
                    self._tput(codec.audit_item(e, timed_sequence(e.at), self._codec.retention))
                    for e in audits
                ),
            )
        except ConditionFailed:
            return None
        return challenge

    def store_sent_challenge(
        self, challenge: Challenge, audits: Sequence[AuditEvent], delivery: Delivery | None = None
    ) -> None:
        """One TransactWriteItems: the challenge's put, the delivery record's put (only where no record of
        that message id exists) and the events' puts. The record's condition is the only one, so a
        cancelled transaction means the record was there already: written again without it."""
        if len(audits) >= TRANSACTION_ITEMS - 1:
            raise ValueError(f"a code is stored with at most {TRANSACTION_ITEMS - 2} audit events")
        items = [
            self._tsent_challenge(challenge),
            *(self._tput(codec.audit_item(e, timed_sequence(e.at), self._codec.retention)) for e in audits),
        ]
        if delivery is None:
            self._transact(*items)
            return
        try:
            self._transact(*items, self._tput(delivery_item(delivery, self._codec.retention), FIRST_RECORD))
        except ConditionFailed:
            self._transact(*items)

    def _tsent_challenge(self, challenge: Challenge) -> dict[str, Any]:
        """The transaction item of a sent code: an update rather than a put, so that the attempts counted
        on a placeholder stored under its id stay counted (`ChallengeStore.store_sent_challenge`)."""
        item = self._codec.challenge_item(challenge)
        attributes = {name: value for name, value in item.items() if name not in ("PK", "SK", "attempts")}
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        values = {f":a{i}": value for i, value in enumerate(attributes.values()) if value is not None}
        sets = [f"#a{i} = :a{i}" for i, value in enumerate(attributes.values()) if value is not None]
        removes = [f"#a{i}" for i, value in enumerate(attributes.values()) if value is None]
        expression = "SET " + ", ".join([*sets, "attempts = if_not_exists(attempts, :attempts)"])
        if removes:  # a placeholder's attributes the code has none of (its typed email, for a texted code)
            expression += " REMOVE " + ", ".join(removes)
        update = {
            "TableName": self._table,
            "Key": key(item["PK"], item["SK"]),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize({**values, ":attempts": challenge.attempts}),
        }
        return {"Update": update}

    def count_attempt(self, challenge_id: str, now: datetime) -> Challenge | None:
        return self._challenge_update(
            challenge_id,
            "ADD attempts :one",
            {":one": 1, ":now": to_number(now)},
            _OPEN,
        )

    def attempt_challenge(self, challenge_id: str, now: datetime, consume_if: str | None) -> Challenge | None:
        """One conditional write when the code matches and is still the stored one; when it was
        replaced meanwhile (or the gate refused), a plain `count_attempt` decides."""
        if consume_if is not None:
            consumed = self._challenge_update(
                challenge_id,
                _USE,
                {":one": 1, ":now": to_number(now), ":h": consume_if},
                f"{_OPEN} AND code_hmac = :h",
            )
            if consumed is not None:
                return consumed
        return self.count_attempt(challenge_id, now)

    def consume_challenge(self, challenge_id: str, now: datetime) -> bool:
        return (
            self._challenge_update(
                challenge_id, "SET consumed_at = :now", {":now": to_number(now)}, _NOT_CONSUMED
            )
            is not None
        )

    def expire_challenge(self, challenge_id: str, now: datetime) -> None:
        self._challenge_update(
            challenge_id,
            "SET expires_at = :now",
            {":now": to_number(now)},
            "attribute_exists(PK) AND expires_at > :now",
        )

    # --- messages ---
    def add_message(self, message: Message) -> None:
        self._put(codec.message_item(message))

    def list_messages(self, limit: int, cursor: str | None = None) -> Page[Message]:
        upper = "~"  # sorts after every digit
        if cursor:
            created, message_id = parse_message_cursor(cursor)
            upper = codec.message_sort_key(created, message_id)
        items = self._query(
            "PK = :p AND SK < :u", {":p": "MESSAGES", ":u": upper}, limit + 1, ScanIndexForward=False
        )
        messages = [codec.message(item) for item in items[:limit]]
        more = len(items) > limit and messages
        return Page(messages, message_cursor(messages[-1]) if more else None)

    # --- outbox ---
    def add_outbox(self, entry: OutboxEntry) -> None:
        self._put(codec.outbox_item(entry, timed_sequence(entry.sent_at), self._codec.retention))

    def list_outbox(
        self, to: str | None = None, last: int = 20, channel: str | None = None
    ) -> list[OutboxEntry]:
        if last <= 0:
            return []
        # A channel is filtered by DynamoDB; `_query` reads on until it has `last` of them.
        extra: dict[str, Any] = {}
        if channel is not None:
            extra = {"FilterExpression": "#c = :c", "ExpressionAttributeNames": {"#c": "channel"}}
        if to is None:
            values = {":p": "OUTBOX"} if channel is None else {":p": "OUTBOX", ":c": channel}
            items = self._query("PK = :p", values, last, ScanIndexForward=False, **extra)
        else:
            values = {":p": f"OUTBOX#{to}"} if channel is None else {":p": f"OUTBOX#{to}", ":c": channel}
            items = self._query("GSI1PK = :p", values, last, ScanIndexForward=False, IndexName=GSI1, **extra)
        return [codec.outbox_entry(item) for item in reversed(items)]

    # --- audit ---
    def append_audit(self, event: AuditEvent) -> None:
        self._put(codec.audit_item(event, timed_sequence(event.at), self._codec.retention))

    def append_audits(self, events: Sequence[AuditEvent]) -> None:
        """All or nothing: one TransactWriteItems (a BatchWriteItem could store part of a step's events
        and lose the rest). A step has a handful of events; more than a transaction holds (100) go in
        several transactions, each all or nothing."""
        if len(events) <= 1:
            for event in events:
                self.append_audit(event)
            return
        for start in range(0, len(events), TRANSACTION_ITEMS):
            self._transact(
                *(
                    self._tput(codec.audit_item(e, timed_sequence(e.at), self._codec.retention))
                    for e in events[start : start + TRANSACTION_ITEMS]
                )
            )

    def list_audit(self, user_id: str | None = None, limit: int = 50) -> list[AuditEvent]:
        if limit <= 0:
            return []
        if user_id is None:
            items = self._query("PK = :p", {":p": "AUDIT"}, limit, ScanIndexForward=False)
        else:
            items = self._query(
                "GSI1PK = :p", {":p": f"AUDIT#{user_id}"}, limit, ScanIndexForward=False, IndexName=GSI1
            )
        return [codec.audit_event(item) for item in reversed(items)]
