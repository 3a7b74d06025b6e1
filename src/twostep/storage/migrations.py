"""Versioned schema migrations for the relational backends (SQLite and PostgreSQL).

Each database has a `schema_migrations (version)` table listing the steps applied to it. `init_schema`
(every start) and `twostep storage migrate` apply the missing steps in order, in one transaction under a
lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL `pg_advisory_xact_lock`), so two processes starting at once
apply each step exactly once and a failing step leaves the database as it was.

How to add a table, column or index (never edit a landed step, never edit `schema_v1.py`):
  1. Append `Migration(N + 1, "what it adds", sqlite="…", postgres="…")` to STEPS below, one statement
     or several separated by `;`. Write both dialects (SQLite: times as REAL UNIX seconds, `INTEGER`;
     PostgreSQL: `timestamptz`, `bigint`, `text`). Prefer `IF NOT EXISTS`, so a step also suits a database
     that already has the object. A SQLite step that needs to look first (SQLite cannot drop a constraint,
     so it rebuilds the table) may be a function of the connection instead (see step 2); it runs in
     the migration transaction, so it must not commit. A step over rows (step 21) is a function in both
     dialects.
  2. Two branches that both add step N + 1 conflict here on merge: the second to merge renumbers its step.
  3. The conformance suite (`tests/contract`) creates every database through these steps;
     `tests/storage/test_migrations.py` upgrades a version-1 database and checks no row is lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twostep.domain.errors import StorageUnavailable
from twostep.storage import postgres_emails, sqlite_users
from twostep.storage.purge_sql import EXPIRY_INDEXES, POSTGRES_INDEXES, SQLITE_INDEXES
from twostep.storage.schema_deliveries import POSTGRES_DELIVERIES, SQLITE_DELIVERIES
from twostep.storage.schema_factors import POSTGRES_FACTORS, REGISTRATIONS_INDEX, SQLITE_FACTORS
from twostep.storage.schema_idempotency import POSTGRES_IDEMPOTENCY, SQLITE_IDEMPOTENCY
from twostep.storage.schema_v1 import POSTGRES_V1, SQLITE_V1
from twostep.storage.sqlite_users import add_challenge_email, upgrade_users

if TYPE_CHECKING:  # every SQLite server imports the steps; only PostgreSQL's load psycopg
    import psycopg


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sqlite: str | Callable[[sqlite3.Connection], None]
    postgres: str | Callable[[psycopg.Connection[Any]], None]


STEPS: tuple[Migration, ...] = (
    Migration(1, "base schema", sqlite=SQLITE_V1, postgres=POSTGRES_V1),
    Migration(
        2,
        "proof before ownership: phone_verified, email_verified; only proven phone numbers unique",
        sqlite=upgrade_users,
        postgres="""
ALTER TABLE users ADD COLUMN IF NOT EXISTS phone_verified boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified boolean NOT NULL DEFAULT false;
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_phone_key;
CREATE UNIQUE INDEX IF NOT EXISTS users_proven_phone ON users (phone) WHERE phone_verified;
CREATE INDEX IF NOT EXISTS users_phone ON users (phone);
""",
    ),
    Migration(
        3,
        "codes sent by email: the challenge's destination address",
        sqlite=add_challenge_email,
        postgres="ALTER TABLE challenges ADD COLUMN IF NOT EXISTS email text",
    ),
    Migration(
        4,
        "key_record: the deployment's shared key material, sealed with its master key",
        sqlite="""
CREATE TABLE IF NOT EXISTS key_record (
    name TEXT PRIMARY KEY, version INTEGER NOT NULL, sealed TEXT NOT NULL, master_key_id TEXT NOT NULL,
    updated_at REAL NOT NULL);
""",
        postgres="""
CREATE TABLE IF NOT EXISTS key_record (
    name text PRIMARY KEY, version bigint NOT NULL, sealed text NOT NULL, master_key_id text NOT NULL,
    updated_at timestamptz NOT NULL);
""",
    ),
    Migration(
        5,
        "fraud guard: prefix_blocks (number prefixes blocked for SMS pumping)",
        sqlite="""
CREATE TABLE IF NOT EXISTS prefix_blocks (
    prefix TEXT PRIMARY KEY, blocked_at REAL NOT NULL, until REAL NOT NULL, sent INTEGER NOT NULL,
    verified INTEGER NOT NULL);
""",
        postgres="""
CREATE TABLE IF NOT EXISTS prefix_blocks (
    prefix text PRIMARY KEY, blocked_at timestamptz NOT NULL, until timestamptz NOT NULL,
    sent bigint NOT NULL, verified bigint NOT NULL);
""",
    ),
    Migration(
        6,
        "housekeeping: indexes on the time columns purges compare",
        sqlite=SQLITE_INDEXES,
        postgres=POSTGRES_INDEXES,
    ),
    Migration(
        7,
        "sessions (one per refresh-token family) and the list of recently ended ones; messages by author",
        sqlite="""
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,
    auth_time REAL NOT NULL, amr TEXT NOT NULL, last_used_at REAL NOT NULL, client TEXT, ip TEXT,
    revoked_at REAL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, created_at);
CREATE TABLE IF NOT EXISTS revocations (session_id TEXT PRIMARY KEY, revoked_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS revocations_recent ON revocations (revoked_at);
CREATE INDEX IF NOT EXISTS messages_user ON messages (user_id);
""",
        postgres="""
CREATE TABLE IF NOT EXISTS sessions (
    id text PRIMARY KEY, user_id text NOT NULL, created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
    auth_time timestamptz NOT NULL, amr text[] NOT NULL, last_used_at timestamptz NOT NULL, client text,
    ip text, revoked_at timestamptz);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, created_at);
CREATE TABLE IF NOT EXISTS revocations (session_id text PRIMARY KEY, revoked_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS revocations_recent ON revocations (revoked_at);
CREATE INDEX IF NOT EXISTS messages_user ON messages (user_id);
""",
    ),
    Migration(
        8,
        "housekeeping: ended sessions found by their expiry",
        sqlite="CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at)",
        postgres="CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at)",
    ),
    Migration(
        9,
        "second factors: totp_factors, recovery_codes, passkeys, webauthn_ceremonies, remembered_devices",
        sqlite=SQLITE_FACTORS,
        postgres=POSTGRES_FACTORS,
    ),
    Migration(
        10,
        "housekeeping: expired WebAuthn ceremonies, remembered devices and prefix blocks found by expiry",
        sqlite=EXPIRY_INDEXES,
        postgres=EXPIRY_INDEXES,
    ),
    Migration(
        11,
        "the console outbox keeps each message's channel (sms, voice, whatsapp, email)",
        sqlite="""
ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms';
UPDATE outbox SET channel = 'email' WHERE provider = 'email';
""",
        postgres="""
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS channel text NOT NULL DEFAULT 'sms';
UPDATE outbox SET channel = 'email' WHERE provider = 'email';
""",
    ),
    Migration(
        12,
        "Idempotency-Key: idempotency_keys (first answers), found by expiry for housekeeping",
        sqlite=SQLITE_IDEMPOTENCY,
        postgres=POSTGRES_IDEMPOTENCY,
    ),
    Migration(
        13,
        "delivery receipts: deliveries (one record per sent message, its status only moving forward)",
        sqlite=SQLITE_DELIVERIES,
        postgres=POSTGRES_DELIVERIES,
    ),
    Migration(
        14,
        "texts in the user's language: users.locale (a BCP 47 tag, or NULL)",
        sqlite="ALTER TABLE users ADD COLUMN locale TEXT",
        postgres="ALTER TABLE users ADD COLUMN IF NOT EXISTS locale text",
    ),
    Migration(
        15,
        "challenges.channel: how the current code went (sms, voice, whatsapp, email), for the sign-in's amr",
        sqlite="""
ALTER TABLE challenges ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms';
UPDATE challenges SET channel = 'email' WHERE email IS NOT NULL;
""",
        postgres="""
ALTER TABLE challenges ADD COLUMN IF NOT EXISTS channel text NOT NULL DEFAULT 'sms';
UPDATE challenges SET channel = 'email' WHERE email IS NOT NULL;
""",
    ),
    Migration(
        16,
        "deliveries.language: the bundled language a text was written in (NULL: unknown), for its fallback",
        sqlite="ALTER TABLE deliveries ADD COLUMN language TEXT",
        postgres="ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS language text",
    ),
    Migration(
        17,
        "challenges.credentials_tag: a login's or reset's digest of the account's password hash, number and"
        " address when it began, so that one begun before any of them changed cannot be finished",
        sqlite="ALTER TABLE challenges ADD COLUMN credentials_tag TEXT",
        postgres="ALTER TABLE challenges ADD COLUMN IF NOT EXISTS credentials_tag text",
    ),
    Migration(
        18,
        "deliveries.tenant: the verification API tenant a code was sent for (NULL: none), so its fallback"
        " counts against that tenant's caps and uses its template",
        sqlite="ALTER TABLE deliveries ADD COLUMN tenant TEXT",
        postgres="ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS tenant text",
    ),
    Migration(
        19,
        "challenges by subject: an account's deletion erases its codes (and the number or address they"
        " hold) by an index, not a scan",
        sqlite="CREATE INDEX IF NOT EXISTS challenges_subject ON challenges (subject)",
        postgres="CREATE INDEX IF NOT EXISTS challenges_subject ON challenges (subject)",
    ),
    Migration(
        20,
        "passkey registrations by subject: an account's deletion erases its ceremonies by an index, not by"
        " reading the day of sign-in ceremonies housekeeping keeps, inside its write transaction",
        # Partial: the sign-in ceremonies, nearly all the rows, are not indexed, so they cost no more to add.
        sqlite=REGISTRATIONS_INDEX,
        postgres=REGISTRATIONS_INDEX,
    ),
    Migration(
        21,
        "addresses stored by 0.1.0 (lower-cased only: a Unicode domain, a decomposed name) in the canonical"
        " form every lookup uses, so their accounts are found again; two accounts with one canonical"
        " address are both kept and logged (storage/email_upgrade.py)",
        sqlite=sqlite_users.canonicalise_older_emails,
        postgres=postgres_emails.canonicalise_older_emails,
    ),
)

LATEST = STEPS[-1].version

# Created before anything else, in the migration transaction.
SQLITE_LEDGER = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
)
POSTGRES_LEDGER = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())"
)


def pending(applied: set[int]) -> list[Migration]:
    """The steps not yet applied, in order.

    Raises: StorageUnavailable when the database has a step this code does not know (a newer release).
    """
    unknown = applied - {step.version for step in STEPS}
    if unknown:
        raise StorageUnavailable(
            f"the database is at schema version {max(unknown)}, newer than this release knows ({LATEST})"
        )
    return [step for step in STEPS if step.version not in applied]


def split_sqlite(script: str) -> list[str]:
    """Complete SQLite statements of `script`, one by one (executescript would commit the transaction)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
