"""Version 1 of the relational schema: the tables as first landed, for SQLite and for PostgreSQL.

Never edit these texts: a database created from them is upgraded by the later steps in
`storage/migrations.py`. SQLite keeps times as UNIX seconds (REAL); PostgreSQL as `timestamptz`, and
sorts ids byte by byte (`COLLATE "C"`) like SQLite, so pages come in the same order on both.
"""

from __future__ import annotations

SQLITE_V1 = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, phone TEXT UNIQUE, password_hash TEXT NOT NULL,
    first_name TEXT, last_name TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS challenges (
    id TEXT PRIMARY KEY, purpose TEXT NOT NULL, subject TEXT NOT NULL, phone TEXT NOT NULL,
    code_hmac TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL, max_attempts INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, consumed_at REAL, sends INTEGER NOT NULL DEFAULT 1,
    last_sent_at REAL, code_length INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY, family_id TEXT NOT NULL, user_id TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, family_expires_at REAL NOT NULL, amr TEXT NOT NULL, used_at REAL, revoked_at REAL);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, author TEXT NOT NULL, content TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_recent ON messages (created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, to_number TEXT NOT NULL, body TEXT NOT NULL, sent_at REAL NOT NULL,
    provider TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_to ON outbox (to_number, seq);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL, at REAL NOT NULL, user_id TEXT,
    email_hash TEXT, phone_masked TEXT, ip TEXT, request_id TEXT, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_user ON audit (user_id, seq);
"""

POSTGRES_V1 = """
CREATE TABLE IF NOT EXISTS users (
    id text COLLATE "C" PRIMARY KEY, email text NOT NULL UNIQUE, phone text UNIQUE, password_hash text NOT NULL,
    first_name text, last_name text, created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS challenges (
    id text PRIMARY KEY, purpose text NOT NULL, subject text NOT NULL, phone text NOT NULL,
    code_hmac text NOT NULL, created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
    max_attempts integer NOT NULL, attempts integer NOT NULL DEFAULT 0, consumed_at timestamptz,
    sends integer NOT NULL DEFAULT 1, last_sent_at timestamptz, code_length integer NOT NULL);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash text PRIMARY KEY, family_id text NOT NULL, user_id text NOT NULL,
    created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL, family_expires_at timestamptz NOT NULL,
    amr text[] NOT NULL, used_at timestamptz, revoked_at timestamptz);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS messages (
    id text COLLATE "C" PRIMARY KEY, user_id text NOT NULL, author text NOT NULL, content text NOT NULL,
    created_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS messages_recent ON messages (created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS outbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, to_number text NOT NULL, body text NOT NULL,
    sent_at timestamptz NOT NULL, provider text NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_to ON outbox (to_number, seq);
CREATE TABLE IF NOT EXISTS counters (key text PRIMARY KEY, value bigint NOT NULL, expires_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event text NOT NULL, at timestamptz NOT NULL,
    user_id text, email_hash text, phone_masked text, ip text, request_id text, detail jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS audit_user ON audit (user_id, seq);
"""
