"""Migration step 12 in both dialects: `Idempotency-Key` records, and their expiry index for housekeeping.
Never edit this once landed; add a new step."""

from __future__ import annotations

SQLITE_IDEMPOTENCY = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, lease TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, locked_until REAL NOT NULL, answer TEXT);
CREATE INDEX IF NOT EXISTS idempotency_keys_expires ON idempotency_keys (expires_at);
"""

POSTGRES_IDEMPOTENCY = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key text PRIMARY KEY, fingerprint text NOT NULL, lease text NOT NULL, created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL, locked_until timestamptz NOT NULL, answer text);
CREATE INDEX IF NOT EXISTS idempotency_keys_expires ON idempotency_keys (expires_at);
"""
