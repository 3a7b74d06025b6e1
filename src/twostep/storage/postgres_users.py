"""PostgreSQL user records: unique emails, proof before ownership of a phone number.

Only a proven phone number is unique (a partial unique index, schema step 2); unproven claims on one
number may coexist until one account proves it. A new claim and a proof of the same number take the
same advisory lock, so a claim can never slip in beside a proof that is committing.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from twostep.domain.errors import AccountExists
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.identity import E164
from twostep.domain.models import EmailCollision, Page, User
from twostep.storage.challenges_sql import ERASE_CHALLENGES_OF_USER
from twostep.storage.postgres_connection import Row
from twostep.storage.postgres_emails import canonicalise_emails
from twostep.storage.postgres_factors import ERASE_FACTORS_OF_USER
from twostep.storage.postgres_sessions import PostgresSessionOps
from twostep.storage.sql_accounts import (
    prove_phone_sql,
    prove_phone_values,
    unchanged_account_values,
    update_unchanged_sql,
)
from twostep.storage.sql_factor_summary import FIND_SIGNING_IN, enrolled

SET_PASSWORD_HASH = update_unchanged_sql("password_hash = %s", "%s", "IS NOT DISTINCT FROM")
PROVE_EMAIL = update_unchanged_sql("email = %s, email_verified = true", "%s", "IS NOT DISTINCT FROM")
ASSIGN_EMAIL = update_unchanged_sql("email = %s, email_verified = false", "%s", "IS NOT DISTINCT FROM")
RELEASE_EMAIL = (
    update_unchanged_sql("email = %s", "%s", "IS NOT DISTINCT FROM") + " AND email_verified = false"
)
PROVE_PHONE = prove_phone_sql("%s", "IS NOT DISTINCT FROM", locking=True)


def user_of(row: Row | None) -> User | None:
    if row is None:
        return None
    return User(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        phone=None if row["phone"] is None else E164(row["phone"]),
        phone_verified=row["phone_verified"],
        email_verified=row["email_verified"],
        locale=row["locale"],
    )


class PostgresUsers(PostgresSessionOps):
    """The user port; `delete_user` ends the user's sessions in the same transaction."""

    def add_user(self, user: User) -> None:
        u = user
        try:
            with self._guard(unique=True) as conn, conn.transaction():
                self._lock_phone(conn, u.phone)
                added = self._run(
                    conn,
                    "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, created_at,"
                    " phone_verified, email_verified, locale) SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s"
                    " WHERE NOT EXISTS (SELECT 1 FROM users WHERE phone = %s AND phone_verified)",
                    (
                        u.id,
                        u.email,
                        u.phone,
                        u.password_hash,
                        u.first_name,
                        u.last_name,
                        u.created_at,
                        u.phone_verified,
                        u.email_verified,
                        u.locale,
                        u.phone,
                    ),
                ).rowcount
        except psycopg.errors.UniqueViolation as exc:
            raise AccountExists() from exc
        if added != 1:
            raise AccountExists()

    def _lock_phone(self, conn: psycopg.Connection[Row], phone: str | None) -> None:
        """Serialise, per number, a new claim against a proof: without it a claim made while another
        account proves the number could survive the proof (READ COMMITTED sees no uncommitted proof)."""
        if phone is not None:
            self._run(conn, "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (phone,))

    def prove_phone(self, account: User, phone: E164) -> bool:
        try:
            with self._guard(unique=True) as conn, conn.transaction():
                self._lock_phone(conn, phone)
                # One statement: the owner's row takes the number, other accounts' claims on it are
                # dropped; nothing changes when the account changed since it was read (or is gone) or
                # another account proved the number.
                values = prove_phone_values(account, phone, locking=True)
                rows = self._run(conn, PROVE_PHONE, values).fetchall()
        except psycopg.errors.UniqueViolation:
            return False  # another account proved this number first; the transaction rolled back
        return any(row["id"] == account.id for row in rows)

    def prove_email(self, account: User, email: str) -> bool:
        return self._move_address(PROVE_EMAIL, account, email)

    def assign_email(self, account: User, email: str) -> bool:
        return self._move_address(ASSIGN_EMAIL, account, email)

    def _move_address(self, statement: str, account: User, email: str) -> bool:
        # As `set_password_hash`: READ COMMITTED checks the condition again on a row that was changed
        # while this update waited for its lock.
        try:
            moved = self._execute(statement, (email, *unchanged_account_values(account)), unique=True)
        except psycopg.errors.UniqueViolation as exc:
            raise AccountExists() from exc
        return moved == 1

    def release_email(self, account: User, placeholder: str) -> bool:
        # As `prove_email`: an update that waited for a proof's row lock checks its condition again on
        # the committed row, whose address is then proven, and matches nothing.
        return self._execute(RELEASE_EMAIL, (placeholder, *unchanged_account_values(account))) == 1

    def get_user(self, user_id: str) -> User | None:
        return user_of(self._one("SELECT * FROM users WHERE id = %s", (user_id,)))

    def find_user_by_email(self, email: str) -> User | None:
        return user_of(self._one("SELECT * FROM users WHERE email = %s", (email,)))

    def canonicalise_emails(self) -> list[EmailCollision]:
        # `storage migrate`'s pass, as exempt from the timeouts as its schema steps: it reads every account.
        with self._unbounded_transaction() as conn:
            return canonicalise_emails(conn)

    def find_user_signing_in(self, email: str) -> tuple[User | None, EnrolledFactors | None]:
        row = self._one(FIND_SIGNING_IN.format(p="%s", id='users.id COLLATE "default"'), (email,))
        return (None, None) if row is None else (user_of(row), enrolled(row))

    def set_password_hash(self, account: User, password_hash: str) -> bool:
        # READ COMMITTED: an UPDATE that waited for a concurrent change's row lock checks its condition
        # again on the committed row, so the change is seen (no `FOR SHARE` needed, unlike a read).
        return self._execute(SET_PASSWORD_HASH, (password_hash, *unchanged_account_values(account))) == 1

    def set_user_locale(self, user_id: str, locale: str | None) -> bool:
        return self._execute("UPDATE users SET locale = %s WHERE id = %s", (locale, user_id)) == 1

    def list_users(self, limit: int, cursor: str | None = None) -> Page[User]:
        rows = self._all("SELECT * FROM users WHERE id > %s ORDER BY id LIMIT %s", (cursor or "", limit + 1))
        users = [user for user in map(user_of, rows[:limit]) if user is not None]
        return Page(users, users[-1].id if len(rows) > limit else None)

    def delete_user(self, user_id: str, now: datetime) -> bool:
        with self._guard() as conn, conn.transaction():
            deleted = self._run(conn, "DELETE FROM users WHERE id = %s", (user_id,)).rowcount
            self._end_sessions_of(conn, user_id, now)
            for statement in (*ERASE_FACTORS_OF_USER, ERASE_CHALLENGES_OF_USER):
                self._run(conn, statement, (user_id,))
        return deleted > 0
