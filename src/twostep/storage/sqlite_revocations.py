"""The revocation list in SQLite, readable without the rest of the storage (the authorizer's path).

Imports only `sqlite3` and the domain records, so a reader in another process (a Lambda authorizer
run against SQLite in tests) loads no pydantic, settings or web framework.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from twostep.domain.errors import StorageUnavailable
from twostep.domain.revocation import Revocation

SELECT_SINCE = "SELECT session_id, revoked_at FROM revocations WHERE revoked_at >= ?"


def revocations_from(rows: list[sqlite3.Row] | list[tuple[str, float]]) -> list[Revocation]:
    return [Revocation(str(row[0]), datetime.fromtimestamp(float(row[1]), tz=UTC)) for row in rows]


class SqliteRevocationReader:
    """Reads the list from a database file opened read-only (it never creates or changes the file)."""

    def __init__(self, path: Path | str) -> None:
        self._uri = f"{Path(path).resolve().as_uri()}?mode=ro"

    def list_revocations(self, since: datetime) -> list[Revocation]:
        """Raises: StorageUnavailable (missing file, no table yet, locked or corrupt)."""
        try:
            conn = sqlite3.connect(self._uri, uri=True, timeout=2)
            try:
                rows = conn.execute(SELECT_SINCE, (since.timestamp(),)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StorageUnavailable("The revocation list could not be read.") from exc
        return revocations_from(rows)
