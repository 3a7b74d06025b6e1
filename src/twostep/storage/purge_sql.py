"""The bounded deletes of housekeeping for the relational backends (SQLite and PostgreSQL).

Each delete takes at most `limit` rows through an index on the column it compares (migration step 5),
so a run costs the same however much has piled up, and never scans a table.
"""

from __future__ import annotations

from datetime import datetime

from twostep.domain.ports import PurgeRules

# kind -> (table, primary key, condition on the indexed time columns, rules that fill it)
_DELETES: dict[str, tuple[str, str, str]] = {
    "challenges": ("challenges", "id", "expires_at < {p}"),
    "refresh_tokens": ("refresh_tokens", "token_hash", "family_expires_at < {p} AND expires_at < {p}"),
    "counters": ("counters", "key", "expires_at < {p}"),
    "outbox": ("outbox", "seq", "sent_at < {p}"),
    "audit": ("audit", "seq", "at < {p}"),
    "sessions": ("sessions", "id", "expires_at < {p}"),
    # An entry matters while access tokens of its session live: its cutoff covers the list's look-back.
    "revocations": ("revocations", "session_id", "revoked_at < {p}"),
    "webauthn_ceremonies": ("webauthn_ceremonies", "id", "expires_at < {p}"),
    "remembered_devices": ("remembered_devices", "token_hash", "expires_at < {p}"),
    "prefix_blocks": ("prefix_blocks", "prefix", "until < {p}"),
    "deliveries": ("deliveries", "id", "expires_at < {p}"),
    "idempotency_keys": ("idempotency_keys", "key", "expires_at < {p}"),
}


def _cutoff(kind: str, rules: PurgeRules) -> datetime:
    return {
        "challenges": rules.challenges_before,
        "refresh_tokens": rules.refresh_before,
        "counters": rules.counters_before,
        "outbox": rules.outbox_before,
        "audit": rules.audit_before,
        "sessions": rules.refresh_before,
        "revocations": rules.revocations_before,
        "webauthn_ceremonies": rules.challenges_before,
        "remembered_devices": rules.challenges_before,
        "prefix_blocks": rules.challenges_before,
        "deliveries": rules.challenges_before,
        "idempotency_keys": rules.counters_before,
    }[kind]


def purge_statements(rules: PurgeRules, placeholder: str) -> list[tuple[str, str, int, datetime]]:
    """(kind, SQL, number of time parameters, cutoff) for each kind; the SQL ends with a LIMIT parameter."""
    statements = []
    for kind, (table, key, condition) in _DELETES.items():
        where = condition.format(p=placeholder)
        # Only this module's constant names and the driver's placeholder go into the text.
        sql = f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {where} LIMIT {placeholder})"  # noqa: S608
        statements.append((kind, sql, where.count(placeholder), _cutoff(kind, rules)))
    return statements


SQLITE_INDEXES = """
CREATE INDEX IF NOT EXISTS challenges_expires ON challenges (expires_at);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_expires ON refresh_tokens (family_expires_at);
CREATE INDEX IF NOT EXISTS counters_expires ON counters (expires_at);
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (sent_at);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""
POSTGRES_INDEXES = SQLITE_INDEXES  # the same statements in both dialects

# Migration step 10: what ended among the second-factor and fraud-guard rows, found by an index.
EXPIRY_INDEXES = """
CREATE INDEX IF NOT EXISTS webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);
CREATE INDEX IF NOT EXISTS remembered_devices_expires ON remembered_devices (expires_at);
CREATE INDEX IF NOT EXISTS prefix_blocks_until ON prefix_blocks (until);
"""
