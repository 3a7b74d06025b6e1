"""`find_user_counting` for the backends that make its two storage requests in turn (memory, SQLite,
DynamoDB): the login attempt's counter batch, then the account read, as the login step did before.
SQLite runs in-process (no round trip to save); DynamoDB reads the account's factors after the
password (`find_user_signing_in`), and its batch is a transaction of its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from twostep.domain.counter_batch import CounterBatch, CounterChange, Unless
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.models import User


class _CountsAndUsers(Protocol):
    def change_counters(
        self, changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless] = ()
    ) -> CounterBatch: ...

    def find_user_signing_in(self, email: str) -> tuple[User | None, EnrolledFactors | None]: ...


class CountsThenAccount:
    def find_user_counting(
        self: _CountsAndUsers, email: str, changes: Sequence[CounterChange], now: datetime
    ) -> tuple[CounterBatch, tuple[User | None, EnrolledFactors | None]]:
        return self.change_counters(changes, now), self.find_user_signing_in(email)
