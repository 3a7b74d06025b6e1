"""A database from before proof of phone (UNIQUE phone column) is rebuilt once, keeping every user."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.contract.helpers import make_user
from twostep.domain.identity import E164
from twostep.storage.sqlite import SqliteStorage

OLD_USERS = """CREATE TABLE users (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, phone TEXT UNIQUE, password_hash TEXT NOT NULL,
    first_name TEXT, last_name TEXT, created_at REAL NOT NULL)"""


def test_old_database_is_upgraded_and_its_numbers_become_claims(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_USERS)
        conn.execute(
            "INSERT INTO users VALUES ('u1', 'old@example.com', '+905555555555', '$argon2id$x', 'A', 'B', 0)"
        )
    storage = SqliteStorage(path)
    for _ in range(2):  # idempotent
        storage.init_schema()
    old = storage.get_user("u1")
    assert old is not None and old.phone == "+905555555555" and not old.phone_verified
    newcomer = make_user(email="new@example.com")
    storage.add_user(newcomer)  # an unproven claim no longer blocks the number
    assert storage.prove_phone(old, E164("+905555555555"))
    dropped = storage.get_user(newcomer.id)
    assert dropped is not None and dropped.phone is None
    storage.close()
