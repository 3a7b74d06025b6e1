"""PostgreSQL: the fraud guard's prefix blocks (one row per prefix; a live row wins over a new block)."""

from __future__ import annotations

from datetime import datetime

from twostep.domain.ports import PrefixBlock
from twostep.storage.postgres_connection import PostgresConnections, Row


def _block(row: Row) -> PrefixBlock:
    return PrefixBlock(
        prefix=row["prefix"],
        blocked_at=row["blocked_at"],
        until=row["until"],
        sent=int(row["sent"]),
        verified=int(row["verified"]),
    )


class PostgresPrefixBlocks(PostgresConnections):
    def add_prefix_block(self, block: PrefixBlock) -> bool:
        # Insert, or take over an expired row; under READ COMMITTED a racing insert waits for the row
        # lock and re-checks the WHERE, so exactly one caller stores a live block.
        row = self._one(
            "INSERT INTO prefix_blocks AS b (prefix, blocked_at, until, sent, verified) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (prefix) DO UPDATE SET blocked_at = EXCLUDED.blocked_at, until = EXCLUDED.until,"
            " sent = EXCLUDED.sent, verified = EXCLUDED.verified WHERE b.until <= EXCLUDED.blocked_at"
            " RETURNING prefix",
            (block.prefix, block.blocked_at, block.until, block.sent, block.verified),
        )
        return row is not None

    def get_prefix_block(self, prefix: str, now: datetime) -> PrefixBlock | None:
        row = self._one("SELECT * FROM prefix_blocks WHERE prefix = %s AND until > %s", (prefix, now))
        return None if row is None else _block(row)

    def list_prefix_blocks(self, now: datetime) -> list[PrefixBlock]:
        rows = self._all("SELECT * FROM prefix_blocks WHERE until > %s ORDER BY prefix", (now,))
        return [_block(row) for row in rows]

    def delete_prefix_block(self, prefix: str) -> bool:
        return self._execute("DELETE FROM prefix_blocks WHERE prefix = %s", (prefix,)) > 0
