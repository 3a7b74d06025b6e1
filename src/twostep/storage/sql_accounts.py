"""A sign-in challenge read together with its account, for the relational backends (SQLite, PostgreSQL).

The account's columns come under an `account_` prefix (a challenge has columns of the same names);
`AccountColumns` hands them to the backend's own user builder by their plain names.
"""

from __future__ import annotations

from typing import Any

from twostep.domain.models import User
from twostep.storage.deliveries_sql import Row

USER_COLUMNS = (
    "id",
    "email",
    "password_hash",
    "created_at",
    "first_name",
    "last_name",
    "phone",
    "phone_verified",
    "email_verified",
    "locale",
)
PREFIX = "account_"
_ACCOUNT = ", ".join(f"users.{column} AS {PREFIX}{column}" for column in USER_COLUMNS)
# `{p}`: the driver's placeholder. The join is by the users table's primary key.
CHALLENGE_WITH_ACCOUNT = (
    f"SELECT challenges.*, {_ACCOUNT} FROM challenges"  # noqa: S608 (constants only)
    " LEFT JOIN users ON users.id = challenges.subject AND challenges.purpose = 'login'"
    " WHERE challenges.id = {p}"
)


def unchanged_account_where(p: str, same: str) -> str:
    """The users row while the account still has the credentials a request checked (`add_session`'s
    `unchanged`, `set_password_hash`'s `account`); `p`: the driver's placeholder, `same`: its NULL-safe
    equality (the number may be none). Its parameters: `unchanged_account_values`."""
    return f"id = {p} AND password_hash = {p} AND phone {same} {p} AND email = {p}"


def unchanged_account_sql(p: str, same: str) -> str:
    """A row while the account is unchanged (`unchanged_account_where`, the same parameters)."""
    return f"SELECT 1 FROM users WHERE {unchanged_account_where(p, same)}"  # noqa: S608 (constants only)


def update_unchanged_sql(assignments: str, p: str, same: str) -> str:
    """An update of the account's row while it is unchanged; its parameters: those of `assignments`,
    then `unchanged_account_values`."""
    return f"UPDATE users SET {assignments} WHERE {unchanged_account_where(p, same)}"  # noqa: S608


def prove_phone_sql(p: str, same: str, *, locking: bool) -> str:
    """A number's proof in one statement: the owner's row takes it, other accounts' unproven claims on it
    are dropped; nothing changes while another account has proven it or the owner's account is not as the
    request read it. `locking`: the account's row is read `FOR SHARE` in a WITH query first (PostgreSQL:
    a change committed meanwhile is seen; SQLite's one writer needs no lock). Its parameters:
    `prove_phone_values`."""
    unchanged = unchanged_account_sql(p, same)
    first = f"WITH unchanged AS ({unchanged} FOR SHARE) " if locking else ""
    check = "EXISTS (SELECT 1 FROM unchanged)" if locking else f"EXISTS ({unchanged})"
    return (
        f"{first}UPDATE users SET phone = CASE WHEN id = {p} THEN {p} ELSE NULL END,"  # noqa: S608 (constants)
        f" phone_verified = (id = {p}) WHERE (id = {p} OR (phone = {p} AND phone_verified = false))"
        f" AND {check} AND NOT EXISTS"
        f" (SELECT 1 FROM users WHERE phone = {p} AND phone_verified = true AND id <> {p}) RETURNING id"
    )


def prove_phone_values(account: User, phone: str, *, locking: bool) -> tuple[object, ...]:
    """`prove_phone_sql`'s parameters, in its order."""
    unchanged = unchanged_account_values(account)
    owner = (account.id, phone, account.id, account.id, phone)
    others = (phone, account.id)
    return (*unchanged, *owner, *others) if locking else (*owner, *unchanged, *others)


def unchanged_account_values(account: User) -> tuple[str, str, str | None, str]:
    """The id, then `User.credentials` in their order."""
    return account.id, *account.credentials


class AccountColumns:
    """The account's columns of a joined row, by their plain names."""

    __slots__ = ("_row",)

    def __init__(self, row: Row) -> None:
        self._row = row

    def __getitem__(self, key: str) -> Any:
        return self._row[PREFIX + key]


def account_of(row: Row) -> AccountColumns | None:
    """The account part of a joined row; None when the join found no account."""
    return None if row[PREFIX + "id"] is None else AccountColumns(row)
