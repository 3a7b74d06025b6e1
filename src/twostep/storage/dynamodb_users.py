"""Users in DynamoDB: the profile item, one item per unique email, and proof before phone ownership.

A *proven* number has one `PHONE#<index>` item naming its owner; an unproven claim is a
`PHONECLAIM#<index>` / `USER#<id>` item, so many accounts may claim a number until one proves it.
Proving writes the owner item with a condition (the race is decided by DynamoDB), then drops the other
claims found with one Query on the claim partition. Users created before proof existed own their
`PHONE#` item already (their number stays theirs; their next sign-in marks it proven).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from twostep.domain.errors import AccountExists
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.identity import E164
from twostep.domain.models import EmailCollision, Page, User
from twostep.storage.dynamodb_base import TableOps
from twostep.storage.dynamodb_client import ConditionFailed, key, serialize
from twostep.storage.dynamodb_schema import GSI1
from twostep.storage.email_upgrade import canonicalise

_NO_PHONE = "REMOVE phone, phone_ct, phone_dk, phone_index SET phone_verified = :no"


class UserOps(TableOps):
    def _check(
        self, pk: str, sk: str, condition: str, values: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        check: dict[str, Any] = {
            "TableName": self._table,
            "Key": key(pk, sk),
            "ConditionExpression": condition,
        }
        if values:
            check["ExpressionAttributeValues"] = serialize(values)
        return {"ConditionCheck": check}

    def _tupdate(
        self, pk: str, sk: str, expression: str, values: dict[str, Any], condition: str
    ) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": key(pk, sk),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": serialize(values),
            }
        }

    def add_user(self, user: User) -> None:
        item = self._codec.user_item(user)
        writes = [
            self._tput(item, "attribute_not_exists(PK)"),
            self._tput(
                {"PK": f"EMAIL#{user.email}", "SK": "EMAIL", "user_id": user.id}, "attribute_not_exists(PK)"
            ),
        ]
        if user.phone is not None:
            index = item["phone_index"]
            if user.phone_verified:
                owner = {"PK": f"PHONE#{index}", "SK": "PHONE", "user_id": user.id}
                writes.append(self._tput(owner, "attribute_not_exists(PK)"))
            else:
                writes.append(self._check(f"PHONE#{index}", "PHONE", "attribute_not_exists(PK)"))
                writes.append(self._tput({"PK": f"PHONECLAIM#{index}", "SK": f"USER#{user.id}"}))
        try:
            self._transact(*writes)
        except ConditionFailed as exc:
            raise AccountExists() from exc

    def get_user(self, user_id: str) -> User | None:
        item = self._get(f"USER#{user_id}", "PROFILE")
        return None if item is None else self._codec.user(item)

    def find_user_by_email(self, email: str) -> User | None:
        pointer = self._get(f"EMAIL#{email}", "EMAIL")
        if pointer is None:
            # The same two reads as a known email (recovery and sign-in must not time who has an account).
            self._get("USER#-", "PROFILE")
            return None
        return self.get_user(pointer["user_id"])

    def find_user_signing_in(self, email: str) -> tuple[User | None, EnrolledFactors | None]:
        # The factors are read after the password: a passkey query before the hash would take longer
        # for a known email than for an unknown one.
        return self.find_user_by_email(email), None

    def set_password_hash(self, account: User, password_hash: str) -> bool:
        condition, values = self._unchanged_condition(account)  # false on a missing item too
        try:
            self._update(
                f"USER#{account.id}",
                "PROFILE",
                "SET password_hash = :new",
                values | {":new": password_hash},
                ConditionExpression=condition,
            )
        except ConditionFailed:
            return False
        return True

    def set_user_locale(self, user_id: str, locale: str | None) -> bool:
        # Clearing removes the attribute; the condition's `:sk` keeps the values map non-empty either way.
        update = "SET locale = :l" if locale else "REMOVE locale"
        values: dict[str, Any] = {":sk": "PROFILE"} | ({":l": locale} if locale else {})
        try:
            self._update(
                f"USER#{user_id}",
                "PROFILE",
                update,
                values,
                ConditionExpression="attribute_exists(PK) AND SK = :sk",
            )
        except ConditionFailed:
            return False
        return True

    def list_users(self, limit: int, cursor: str | None = None) -> Page[User]:
        items = self._query(
            "GSI1PK = :p AND GSI1SK > :c", {":p": "USERS", ":c": cursor or " "}, limit + 1, IndexName=GSI1
        )
        users = [self._codec.user(item) for item in items[:limit]]
        return Page(users, users[-1].id if len(items) > limit else None)

    def canonicalise_emails(self) -> list[EmailCollision]:
        """One pass over the users index (`USERS`), then each older address moved in one transaction."""
        older: list[User] = []
        cursor: str | None = None
        while True:
            page = self.list_users(500, cursor)
            older.extend(user for user in page.items if not user.email.isascii())
            cursor = page.next_cursor
            if cursor is None:
                break
        older.sort(key=lambda user: (user.created_at, user.id))
        return canonicalise([(user.id, user.email) for user in older], self._move_email)

    def _move_email(self, user_id: str, stored: str, canonical: str) -> str | None:
        """The profile, the new address item and the old one's removal in one transaction: a sign-up of
        the canonical address meanwhile (this release) or a change of the account (any) wins instead."""
        writes = [
            self._tupdate(
                f"USER#{user_id}",
                "PROFILE",
                "SET email = :new",
                {":new": canonical, ":old": stored},
                "email = :old",
            ),
            self._tput(
                {"PK": f"EMAIL#{canonical}", "SK": "EMAIL", "user_id": user_id}, "attribute_not_exists(PK)"
            ),
            self._tdelete(
                f"EMAIL#{stored}", "EMAIL", "attribute_not_exists(PK) OR user_id = :me", {":me": user_id}
            ),
        ]
        try:
            self._transact(*writes)
        except ConditionFailed as failed:
            if failed.item_failed(0) or not failed.item_failed(1):
                return None  # the account changed its address or went meanwhile
            holder = self._get(f"EMAIL#{canonical}", "EMAIL")
            return None if holder is None else str(holder["user_id"])
        return None

    def _release_phone(self, user_id: str, index: str) -> dict[str, Any]:
        """The write that lets go of `index`: the owner item if this user owns it, else the claim."""
        owner = self._get(f"PHONE#{index}", "PHONE")
        if owner is not None and owner.get("user_id") == user_id:
            return self._tdelete(f"PHONE#{index}", "PHONE", "user_id = :me", {":me": user_id})
        return self._tdelete(f"PHONECLAIM#{index}", f"USER#{user_id}")

    def _delete_user_items(self, user_id: str) -> bool:
        item = self._get(f"USER#{user_id}", "PROFILE")
        if item is None:
            return False
        deletes = [
            self._tdelete(f"USER#{user_id}", "PROFILE", "attribute_exists(PK)"),
            self._tdelete(f"EMAIL#{item['email']}", "EMAIL"),
        ]
        if item.get("phone_index"):
            deletes.append(self._release_phone(user_id, item["phone_index"]))
        try:
            self._transact(*deletes)
        except ConditionFailed:
            return False
        return True

    def prove_phone(self, account: User, phone: E164) -> bool:
        index = self._codec.phone_index(phone)
        # The number the account held as read (its claim, or a proven one to let go of): no profile read.
        old = self._codec.phone_index(account.phone) if account.phone is not None else ""
        if not self._prove(account, index, phone, old):
            return False
        self._drop_claims(index, account.id)
        return True

    def _prove(self, account: User, index: str, phone: E164, old: str) -> bool:
        """One transaction making `index` the account's proven number, while the profile is as `account`
        (whose number's index is `old`, "" none); False, nothing written, when it changed, is gone, or
        another account owns the number."""
        condition, values = self._unchanged_condition(account)  # false on a missing item too
        attributes = self._codec.phone_attributes(phone)
        assignments = ", ".join(f"{name} = :{name}" for name in attributes)
        values |= {f":{n}": v for n, v in attributes.items()} | {":index": index, ":yes": True}
        writes = [
            self._tput(
                {"PK": f"PHONE#{index}", "SK": "PHONE", "user_id": account.id},
                "attribute_not_exists(PK) OR user_id = :me",
                {":me": account.id},
            ),
            self._tupdate(
                f"USER#{account.id}",
                "PROFILE",
                f"SET {assignments}, phone_index = :index, phone_verified = :yes",
                values,
                condition,
            ),
            self._tdelete(f"PHONECLAIM#{index}", f"USER#{account.id}"),
        ]
        if old and old != index:
            writes.append(self._release_phone(account.id, old))
        try:
            self._transact(*writes)
        except ConditionFailed:
            return False
        return True

    def _drop_claims(self, index: str, owner: str) -> None:
        """Other accounts' unproven claims on a number `owner` has just proven lose it."""
        claims = self._query_all("PK = :p", {":p": f"PHONECLAIM#{index}"}, ConsistentRead=True)
        for claim in claims:
            other = claim["SK"].removeprefix("USER#")
            if other == owner:
                continue
            with contextlib.suppress(ConditionFailed):  # gone or moved to another number meanwhile
                self._update(
                    f"USER#{other}",
                    "PROFILE",
                    _NO_PHONE,
                    {":no": False, ":index": index},
                    ConditionExpression="phone_index = :index",
                )
            self._calls.call("delete_item", TableName=self._table, Key=key(claim["PK"], claim["SK"]))

    def prove_email(self, account: User, email: str) -> bool:
        return self._move_address(account, email, proven=True)

    def assign_email(self, account: User, email: str) -> bool:
        return self._move_address(account, email, proven=False)

    def _move_address(self, account: User, email: str, *, proven: bool) -> bool:
        # No read: the profile's condition holds its address, so the old claim to free is `account`'s.
        condition, values = self._unchanged_condition(account)  # false on a missing item too
        writes = [
            self._tupdate(
                f"USER#{account.id}",
                "PROFILE",
                "SET email = :new, email_verified = :proven",
                values | {":new": email, ":proven": proven},
                condition,
            )
        ]
        if email != account.email:
            writes.append(
                self._tput(
                    {"PK": f"EMAIL#{email}", "SK": "EMAIL", "user_id": account.id}, "attribute_not_exists(PK)"
                )
            )
            writes.append(
                self._tdelete(f"EMAIL#{account.email}", "EMAIL", "user_id = :me", {":me": account.id})
            )
        try:
            self._transact(*writes)
        except ConditionFailed as failed:
            if failed.item_failed(0):
                return False  # the account changed (or is gone) since its request read it
            raise AccountExists() from failed
        return True

    def release_email(self, account: User, placeholder: str) -> bool:
        # One transaction: the profile (while as `account` and its address unproven) takes the
        # placeholder, whose owner item is written, and the address's owner item goes. A proof
        # committed first makes the profile's condition fail, so nothing is written.
        condition, values = self._unchanged_condition(account)  # false on a missing item too
        unproven = f"{condition} AND (attribute_not_exists(email_verified) OR email_verified = :no)"
        owner = {"PK": f"EMAIL#{placeholder}", "SK": "EMAIL", "user_id": account.id}
        try:
            self._transact(
                self._tupdate(
                    f"USER#{account.id}",
                    "PROFILE",
                    "SET email = :new",
                    values | {":new": placeholder, ":no": False},
                    unproven,
                ),
                self._tput(owner, "attribute_not_exists(PK)"),
                self._tdelete(f"EMAIL#{account.email}", "EMAIL", "user_id = :me", {":me": account.id}),
            )
        except ConditionFailed:
            return False
        return True

    def delete_user(self, user_id: str, now: datetime) -> bool:
        if self._get(f"USER#{user_id}", "PROFILE") is None:
            return False
        # Before the profile goes: a deletion interrupted by a failing call is run again while the
        # account can still be found (`twostep users delete` answers `no user` once it is gone).
        self._erase_factors_of(user_id)  # type: ignore[attr-defined]
        self._erase_challenges_of(user_id)  # type: ignore[attr-defined]
        self._end_sessions_of(user_id, now)
        if not self._delete_user_items(user_id):
            return False
        # Again: a session a sign-in stored meanwhile (its check of the profile came before the delete).
        self._end_sessions_of(user_id, now)
        return True

    def _end_sessions_of(self, user_id: str, now: datetime) -> None:
        self._end_every_session_of(user_id, now)  # type: ignore[attr-defined]
