"""Remembered-device SQL shared by SQLite and PostgreSQL (`{p}` is the driver's placeholder)."""

from __future__ import annotations

# The user's devices but the `keep` newest (created_at, then id), deleted in one statement through the
# (user_id, created_at) index; its rows are the ones this statement deleted (for the audit trail).
FORGET_DEVICES_BEYOND = (
    "DELETE FROM remembered_devices WHERE user_id = {p} AND token_hash NOT IN ("
    "SELECT token_hash FROM remembered_devices WHERE user_id = {p} "
    "ORDER BY created_at DESC, id DESC LIMIT {p}) RETURNING id, created_at"
)
