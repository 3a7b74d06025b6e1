"""DynamoDB: a batch of counter changes as one TransactWriteItems (`CounterStore.change_counters`).

Each change is an Update whose condition holds exactly when it may apply: its counter is missing or
live (and, with a limit, has room for the amount). A refused transaction names the items whose
condition failed, each with its old item (ReturnValuesOnConditionCheckFailure); from those the batch
tells which limit refused, or that a counter had ended (expired items linger until TTL removes them)
and must be restarted, and tries again. A transaction returns no values: the counters whose values the
caller asked for are read right after it, strongly consistent, in one more request.

The cost of all or nothing here: a transaction writes each item twice (twice the write capacity of an
UpdateItem), and two transactions on one item conflict (TransactionConflict, retried a few times by
`DynamoCalls`) where two ADDs would not; the service-wide hourly counters every text touches are such
items, so a deployment texting many codes a second should watch for conflicts (a 503 once retries run out).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from twostep.domain.counter_batch import STOPPED, CounterBatch, CounterChange, Unless, check_batch
from twostep.domain.errors import StorageUnavailable
from twostep.storage.dynamodb_blocks import block_pk
from twostep.storage.dynamodb_client import (
    ConditionFailed,
    deserialize,
    key,
    serialize,
    to_datetime,
    to_number,
    ttl_after,
)
from twostep.storage.dynamodb_counters import RESTART_RACE_RETRIES, CounterOps

TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
NEVER = "attribute_not_exists(PK) AND attribute_exists(PK)"  # a change that cannot fit its limit
ADD = "ADD v :a SET expires_at = if_not_exists(expires_at, :e), #ttl = if_not_exists(#ttl, :ttl)"
RESTART = "SET v = :a, expires_at = :e, #ttl = :ttl"


class CounterBatchOps(CounterOps):
    def change_counters(
        self, changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless] = ()
    ) -> CounterBatch:
        return self.change_counters_with(changes, now, unless)

    def change_counters_with(
        self,
        changes: Sequence[CounterChange],
        now: datetime,
        unless: Sequence[Unless] = (),
        also: Sequence[dict[str, Any]] = (),
    ) -> CounterBatch:
        """`change_counters`, with `also` (transaction items of other records) in the same transaction:
        a condition of one of them that fails stops the batch as a holding `unless` record does."""
        check_batch(changes)
        if len(changes) + len(unless) + len(also) > TRANSACTION_ITEMS:
            raise ValueError(f"a DynamoDB transaction holds at most {TRANSACTION_ITEMS} items")
        if not changes and not also:
            return CounterBatch(None, (), ())
        ended: set[int] = set()  # changes whose counter is known to have ended: restart it
        # A transaction touches an item once: a guard on a counter the batch forgets goes into the
        # forget's own condition (`_forget_unless`).
        folded = _folded_guards(changes, unless, now)
        unless = [guard for guard in unless if guard not in folded.values()]
        for _ in range(RESTART_RACE_RETRIES):
            items = [self._change_item(c, now, i in ended, folded.get(i)) for i, c in enumerate(changes)]
            items += [self._not_held(guard, now) for guard in unless]
            items += also
            try:
                self._calls.call("transact_write_items", TransactItems=items)
            except ConditionFailed as failed:
                if any(r.get("Code") == "ConditionalCheckFailed" for r in failed.reasons[len(changes) :]):
                    return STOPPED
                if any(failed.reasons[i].get("Code") == "ConditionalCheckFailed" for i in folded):
                    return STOPPED
                refusal = self._refusal(changes, now, failed.reasons, ended)
                if refusal is not None:
                    return refusal
                continue
            return self._read_back(changes, now)
        raise StorageUnavailable("Counters kept changing; try again.")

    def _change_item(
        self, change: CounterChange, now: datetime, ended: bool, guard: Unless | None = None
    ) -> dict[str, Any]:
        pk = self._counter_pk(change.key)
        if _forgets(change, now):
            delete: dict[str, Any] = {"TableName": self._table, "Key": key(pk, "COUNTER")}
            if guard is not None:  # the only condition on it: a failure means the guard held
                delete["ConditionExpression"], held = _not_held_condition(guard, now)
                delete["ExpressionAttributeValues"] = serialize(held)
            return {"Delete": delete}
        fits = change.limit is None or change.amount <= change.limit
        room = "" if change.limit is None else " AND v <= :room"
        if change.restart:
            condition = None if fits else NEVER
        elif ended:  # restart it, unless another request restarted it first
            condition = "expires_at <= :now" if fits else NEVER
        elif fits:
            condition = f"attribute_not_exists(PK) OR (expires_at > :now{room})"
        else:
            condition = f"expires_at > :now{room}"
        values: dict[str, Any] = {
            ":a": change.amount,
            ":e": to_number(change.expires_at),
            ":ttl": ttl_after(change.expires_at, 60),
        }
        if condition is not None and ":now" in condition:
            values[":now"] = to_number(now)
        if condition is not None and ":room" in condition:
            values[":room"] = (change.limit or 0) - change.amount
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": key(pk, "COUNTER"),
            "UpdateExpression": RESTART if change.restart or ended else ADD,
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": serialize(values),
        }
        if condition is not None:
            update["ConditionExpression"] = condition
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Update": update}

    def _not_held(self, guard: Unless, now: datetime) -> dict[str, Any]:
        """A condition check that fails while `guard` holds."""
        values: dict[str, Any] = {":now": to_number(now)}
        if guard.blocked_prefix:
            return {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": key(block_pk(guard.key), "BLOCK"),
                    "ConditionExpression": "attribute_not_exists(PK) OR #until <= :now",
                    "ExpressionAttributeNames": {"#until": "until"},
                    "ExpressionAttributeValues": serialize(values),
                }
            }
        condition, values = _not_held_condition(guard, now)
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": key(self._counter_pk(guard.key), "COUNTER"),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": serialize(values),
            }
        }

    def _refusal(
        self,
        changes: Sequence[CounterChange],
        now: datetime,
        reasons: list[dict[str, Any]],
        ended: set[int],
    ) -> CounterBatch | None:
        """The refused batch when a failed condition was a limit; else None, with `ended` corrected
        from the old items for the next try."""
        values: list[int | None] = [None] * len(changes)
        expiries: list[datetime | None] = [None] * len(changes)
        for index, reason in enumerate(reasons[: len(changes)]):
            if reason.get("Code") != "ConditionalCheckFailed":
                continue
            change = changes[index]
            old = deserialize(reason["Item"]) if reason.get("Item") else None
            live = old is not None and to_datetime(old["expires_at"]) > now
            if live and not change.restart:
                assert old is not None
                values[index] = int(old["v"]) + change.amount
                expiries[index] = to_datetime(old["expires_at"])
                ended.discard(index)
            else:
                values[index] = change.amount
                expiries[index] = change.expires_at
                if old is not None:
                    ended.add(index)
                else:
                    ended.discard(index)
            if change.limit is not None and (values[index] or 0) > change.limit:
                return CounterBatch(index, tuple(values), tuple(expiries))
        return None

    def _read_back(self, changes: Sequence[CounterChange], now: datetime) -> CounterBatch:
        wanted = [change.key for change in changes if change.read]
        found = self.get_counters(wanted, now) if wanted else {}
        counters = [found.get(change.key) if change.read else None for change in changes]
        return CounterBatch(
            None,
            tuple(None if c is None else c.value for c in counters),
            tuple(None if c is None else c.expires_at for c in counters),
        )


def _forgets(change: CounterChange, now: datetime) -> bool:
    """`forget`'s change (or one like it): a plain delete of the counter."""
    return change.restart and change.amount == 0 and change.expires_at <= now and change.limit is None


def _not_held_condition(guard: Unless, now: datetime) -> tuple[str, dict[str, Any]]:
    """A counter guard's condition: true while it does not hold (missing, ended, or under `at_least`)."""
    values: dict[str, Any] = {":now": to_number(now)}
    condition = "attribute_not_exists(PK) OR expires_at <= :now"
    if guard.at_least is not None:
        condition += " OR v < :least"
        values[":least"] = guard.at_least
    return condition, values


def _folded_guards(
    changes: Sequence[CounterChange], unless: Sequence[Unless], now: datetime
) -> dict[int, Unless]:
    """Guards on a counter the batch forgets, by that change's index.

    Raises: ValueError for a guard on a counter the batch changes otherwise (one operation per item)."""
    index = {change.key: i for i, change in enumerate(changes)}
    folded: dict[int, Unless] = {}
    for guard in unless:
        if guard.blocked_prefix or guard.key not in index:
            continue
        if not _forgets(changes[index[guard.key]], now):
            raise ValueError(
                "on DynamoDB a batch's guard may name a counter it changes only when it forgets it"
            )
        folded[index[guard.key]] = guard
    return folded
