"""PostgreSQL: the shared key record (one row, replaced only over the version read) and housekeeping."""

from __future__ import annotations

from twostep.domain.ports import KeyRecord, PurgeRules
from twostep.storage.postgres_connection import PostgresConnections
from twostep.storage.purge_sql import purge_statements


class PostgresUpkeep(PostgresConnections):
    expired_by_backend: frozenset[str] = frozenset()

    def get_key_record(self) -> KeyRecord | None:
        row = self._one("SELECT * FROM key_record WHERE name = 'keys'")
        if row is None:
            return None
        return KeyRecord(int(row["version"]), row["sealed"], row["master_key_id"], row["updated_at"])

    def put_key_record(self, record: KeyRecord, replaces: int | None) -> bool:
        values = (record.version, record.sealed, record.master_key_id, record.updated_at)
        if replaces is None:
            return (
                self._execute(
                    "INSERT INTO key_record (name, version, sealed, master_key_id, updated_at)"
                    " VALUES ('keys', %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
                    values,
                )
                == 1
            )
        return (
            self._execute(
                "UPDATE key_record SET version = %s, sealed = %s, master_key_id = %s, updated_at = %s"
                " WHERE name = 'keys' AND version = %s",
                (*values, replaces),
            )
            == 1
        )

    def purge_expired(self, rules: PurgeRules) -> dict[str, int]:
        deleted = {}
        for kind, sql, times, cutoff in purge_statements(rules, "%s"):
            deleted[kind] = self._execute(sql, (*[cutoff] * times, rules.limit))
        return deleted
