"""SQLite user records: proof before ownership of a phone number.

Only a *proven* phone number is unique (a partial unique index); unproven claims on one number may
coexist until one account proves it. Databases made before proof existed had a UNIQUE phone column:
`upgrade_users` (schema migration step 2, storage/migrations.py) rebuilds that table once, and their
numbers become unproven claims that the owner proves again at the next sign-in.
"""

from __future__ import annotations

import sqlite3

from twostep.domain.models import EmailCollision
from twostep.storage.email_upgrade import SQLITE_OLDER_EMAILS, canonicalise

INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS users_proven_phone ON users (phone) WHERE phone_verified = 1;
CREATE INDEX IF NOT EXISTS users_phone ON users (phone);
"""
REBUILD = """
CREATE TABLE users_with_proof (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, phone TEXT, password_hash TEXT NOT NULL,
    first_name TEXT, last_name TEXT, created_at REAL NOT NULL,
    phone_verified INTEGER NOT NULL DEFAULT 0, email_verified INTEGER NOT NULL DEFAULT 0);
INSERT INTO users_with_proof (id, email, phone, password_hash, first_name, last_name, created_at)
    SELECT id, email, phone, password_hash, first_name, last_name, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_with_proof RENAME TO users;
"""


def upgrade_users(conn: sqlite3.Connection) -> None:
    """Rebuild a users table from before proof; runs inside the migration transaction.

    A table that already has the columns (made by a build between proof and migrations) is kept as it is.
    """
    columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
    if "phone_verified" not in columns:
        for statement in REBUILD.split(";"):
            if statement.strip():
                conn.execute(statement)
    for statement in INDEXES.split(";"):
        if statement.strip():
            conn.execute(statement)


def add_challenge_email(conn: sqlite3.Connection) -> None:
    """Schema step 3: the address a code was emailed to (SQLite has no ADD COLUMN IF NOT EXISTS)."""
    if "email" not in {row[1] for row in conn.execute("PRAGMA table_info(challenges)")}:
        conn.execute("ALTER TABLE challenges ADD COLUMN email TEXT")


def canonicalise_emails(conn: sqlite3.Connection) -> list[EmailCollision]:
    """Addresses stored by 0.1.0 moved to their canonical form (storage/email_upgrade.py), in the
    caller's write transaction (`BEGIN IMMEDIATE`: no other writer between a look and its move)."""
    rows = [(str(row[0]), str(row[1])) for row in conn.execute(SQLITE_OLDER_EMAILS)]

    def move(user_id: str, stored: str, canonical: str) -> str | None:
        moved = conn.execute(
            "UPDATE users SET email = ? WHERE id = ? AND email = ?"
            " AND NOT EXISTS (SELECT 1 FROM users WHERE email = ?)",
            (canonical, user_id, stored, canonical),
        ).rowcount
        holder = (
            None if moved else conn.execute("SELECT id FROM users WHERE email = ?", (canonical,)).fetchone()
        )
        return None if holder is None else str(holder[0])

    return canonicalise(rows, move)


def canonicalise_older_emails(conn: sqlite3.Connection) -> None:
    """Schema step 21: addresses stored by 0.1.0 (lower-cased only) in their canonical form."""
    canonicalise_emails(conn)
