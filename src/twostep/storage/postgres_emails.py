"""PostgreSQL: addresses stored by 0.1.0 moved to their canonical form (storage/email_upgrade.py); schema
step 21 and `PostgresStorage.canonicalise_emails`, in the caller's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twostep.domain.models import EmailCollision
from twostep.storage.email_upgrade import POSTGRES_OLDER_EMAILS, canonicalise

if TYPE_CHECKING:  # schema steps are imported by every SQLite server too, which never loads psycopg
    import psycopg


def canonicalise_emails(conn: psycopg.Connection[Any]) -> list[EmailCollision]:
    """Each older address moved on its own savepoint: a process still running 0.1.0 or this release may
    store the canonical address meanwhile, and then the unique index decides (a collision, not a failed
    migration)."""
    from psycopg.errors import UniqueViolation

    rows = [(str(row["id"]), str(row["email"])) for row in conn.execute(POSTGRES_OLDER_EMAILS).fetchall()]

    def move(user_id: str, stored: str, canonical: str) -> str | None:
        try:
            with conn.transaction():
                conn.execute(
                    "UPDATE users SET email = %s WHERE id = %s AND email = %s", (canonical, user_id, stored)
                )
            return None  # moved, or the account changed its address or went meanwhile
        except UniqueViolation:
            holder = conn.execute("SELECT id FROM users WHERE email = %s", (canonical,)).fetchone()
            return None if holder is None else str(holder["id"])

    return canonicalise(rows, move)


def canonicalise_older_emails(conn: psycopg.Connection[Any]) -> None:
    """Schema step 21: addresses stored by 0.1.0 (lower-cased only) in their canonical form."""
    canonicalise_emails(conn)
