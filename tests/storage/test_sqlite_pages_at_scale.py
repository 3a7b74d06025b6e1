"""SQLite: what a read or an erasure costs must not grow with the rows it does not concern.

A year of data is too big for a test, so these count the work SQLite does (virtual-machine steps, through
a progress handler on every connection the storage opens) for a read near the start and one deep in the
same table: the two must cost the same.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from twostep.domain.factors import Ceremony
from twostep.domain.models import Message, User
from twostep.storage.cursors import message_cursor
from twostep.storage.sqlite import SqliteStorage

MESSAGES = 400
SLACK_STEPS = 200  # a page's own rows and the bookkeeping around them; the board's depth is far more


class StepCounter:
    """Virtual-machine steps of every connection opened while it is installed."""

    def __init__(self) -> None:
        self.steps = 0

    def _step(self) -> int:
        self.steps += 1
        return 0  # go on

    def connect(self, real: Any) -> Any:
        def opened(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = real(*args, **kwargs)
            conn.set_progress_handler(self._step, 1)
            return conn

        return opened

    def during(self, read: Any) -> int:
        before = self.steps
        read()
        return self.steps - before


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SqliteStorage, StepCounter]]:
    counter = StepCounter()
    monkeypatch.setattr(sqlite3, "connect", counter.connect(sqlite3.connect))
    storage = SqliteStorage(tmp_path / "twostep.db")
    storage.init_schema()
    try:
        yield storage, counter
    finally:
        storage.close()


def test_a_message_page_deep_in_the_board_costs_what_the_second_page_costs(
    counted: tuple[SqliteStorage, StepCounter],
) -> None:
    """The page after a cursor was read with `created_at < ? OR (created_at = ? AND id < ?)`, which SQLite
    cannot bound by the index: it stepped through every newer message to reach the cursor, so on a board of
    200,000 messages the last pages cost 70 ms each where the first cost 0.1 ms. It now reads from the
    cursor on."""
    storage, counter = counted
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(MESSAGES):
        storage.add_message(Message(f"m{n:04d}", "u1", "Ada", "hello", start + timedelta(seconds=n)))
    newest_first = storage.list_messages(MESSAGES).items
    near, deep = newest_first[10], newest_first[MESSAGES - 20]

    near_steps = counter.during(lambda: storage.list_messages(10, message_cursor(near)))
    deep_steps = counter.during(lambda: storage.list_messages(10, message_cursor(deep)))

    assert [m.id for m in storage.list_messages(10, message_cursor(deep)).items] == [
        m.id for m in newest_first[MESSAGES - 19 : MESSAGES - 9]
    ]
    assert deep_steps <= near_steps + SLACK_STEPS, (near_steps, deep_steps)


def test_an_account_deletion_costs_the_same_however_many_sign_in_ceremonies_are_kept(
    counted: tuple[SqliteStorage, StepCounter],
) -> None:
    """An account's deletion erases its passkey registrations with `DELETE FROM webauthn_ceremonies WHERE
    purpose = 'register' AND subject = ?`, which had no index: inside the deletion's write transaction it
    read every ceremony housekeeping keeps (a day of passkey sign-ins), 75-130 ms at 500,000 while every
    sign-in waited for the lock. A partial index on the registrations finds the account's own."""
    storage, counter = counted
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def deletion_steps(user_id: str) -> int:
        storage.add_user(User(user_id, f"{user_id}@example.com", "hash", now))
        storage.put_ceremony(Ceremony(f"reg-{user_id}", "register", user_id, "Y2hhbGxlbmdl", now))
        return counter.during(lambda: storage.delete_user(user_id, now))

    few = deletion_steps("user-few")
    for n in range(MESSAGES):
        storage.put_ceremony(Ceremony(f"login-{n}", "login", "", "Y2hhbGxlbmdl", now + timedelta(minutes=5)))
    many = deletion_steps("user-many")

    assert storage.take_ceremony("reg-user-many", now) is None  # erased with the account
    assert many <= few + SLACK_STEPS, (few, many)
