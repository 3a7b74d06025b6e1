"""Passkey SQL shared by SQLite and PostgreSQL."""

from __future__ import annotations

INSERT_PASSKEY = (
    "INSERT INTO passkeys (credential_id, user_id, public_key, sign_count, created_at, name, backed_up,"
    " transports, last_used_at)"
)
