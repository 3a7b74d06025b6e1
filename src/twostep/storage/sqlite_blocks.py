"""SQLite: the fraud guard's prefix blocks (one row per prefix; a live row wins over a new block)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from twostep.domain.ports import PrefixBlock
from twostep.storage.sqlite_connection import SqliteConnections, epoch, moment


def _block(row: sqlite3.Row) -> PrefixBlock:
    return PrefixBlock(
        prefix=row["prefix"],
        blocked_at=moment(row["blocked_at"]),
        until=moment(row["until"]),
        sent=int(row["sent"]),
        verified=int(row["verified"]),
    )


class SqlitePrefixBlocks(SqliteConnections):
    def add_prefix_block(self, block: PrefixBlock) -> bool:
        # Insert, or take over an expired row; a live row stays and RETURNING yields nothing.
        row = self._one(
            "INSERT INTO prefix_blocks (prefix, blocked_at, until, sent, verified) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (prefix) DO UPDATE SET blocked_at = excluded.blocked_at, until = excluded.until,"
            " sent = excluded.sent, verified = excluded.verified WHERE prefix_blocks.until <= excluded.blocked_at"
            " RETURNING prefix",
            (block.prefix, epoch(block.blocked_at), epoch(block.until), block.sent, block.verified),
        )
        return row is not None

    def get_prefix_block(self, prefix: str, now: datetime) -> PrefixBlock | None:
        row = self._one("SELECT * FROM prefix_blocks WHERE prefix = ? AND until > ?", (prefix, epoch(now)))
        return None if row is None else _block(row)

    def list_prefix_blocks(self, now: datetime) -> list[PrefixBlock]:
        rows = self._all("SELECT * FROM prefix_blocks WHERE until > ? ORDER BY prefix", (epoch(now),))
        return [_block(row) for row in rows]

    def delete_prefix_block(self, prefix: str) -> bool:
        return self._execute("DELETE FROM prefix_blocks WHERE prefix = ?", (prefix,)).rowcount > 0
