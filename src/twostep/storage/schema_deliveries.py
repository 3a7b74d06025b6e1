"""Migration step for delivery records (domain/receipts.py), in both dialects. Never edit this once
landed; add a new step.

`id` is `provider:message_id` (one column, so housekeeping's bounded delete works as for every table);
`stage` orders the statuses, so "only forward" is one `UPDATE … WHERE stage < ?`.
"""

from __future__ import annotations

SQLITE_DELIVERIES = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, provider TEXT NOT NULL, message_id TEXT NOT NULL, challenge_id TEXT NOT NULL,
    channel TEXT NOT NULL, status TEXT NOT NULL, stage INTEGER NOT NULL, error_code TEXT,
    sent_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_challenge ON deliveries (challenge_id, sent_at);
CREATE INDEX IF NOT EXISTS deliveries_expires ON deliveries (expires_at);
"""

POSTGRES_DELIVERIES = """
CREATE TABLE IF NOT EXISTS deliveries (
    id text PRIMARY KEY, provider text NOT NULL, message_id text NOT NULL, challenge_id text NOT NULL,
    channel text NOT NULL, status text NOT NULL, stage integer NOT NULL, error_code text,
    sent_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_challenge ON deliveries (challenge_id, sent_at);
CREATE INDEX IF NOT EXISTS deliveries_expires ON deliveries (expires_at);
"""
