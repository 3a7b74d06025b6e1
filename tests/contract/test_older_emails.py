"""Addresses stored by 0.1.0 are found again after the upgrade to canonical addresses, on every storage.

Before, 0.1.0's rows (an address only lower-cased: `ada@münchen.de`, a decomposed `jose\u0301@…`) were
never found by the canonical lookup (`ada@xn--mnchen-3ya.de`): their owners could not sign in or reset,
and the same address opened a second account beside them. `canonicalise_emails` (schema step 21 on SQL,
`twostep storage migrate` everywhere) moves them to the canonical form; two accounts with one canonical
address are both kept, the older one getting it, and the pair is reported.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.helpers import NOW, make_user
from twostep.domain.errors import AccountExists
from twostep.domain.identity import normalise_email
from twostep.domain.models import EmailCollision, User
from twostep.domain.ports import Storage

# What 0.1.0's normalise_email stored (`typed.lower()`), and the canonical form every lookup now uses.
OLDER = {
    "ada@münchen.de": "ada@xn--mnchen-3ya.de",
    "jose\u0301@example.com": "jos\u00e9@example.com",
    "\uff42ob@example.com": "bob@example.com",
}


def _older_user(email: str, minutes: int = 0, phone: str | None = None) -> User:
    return replace(make_user(email=email, phone=phone), created_at=NOW + timedelta(minutes=minutes))


def test_older_addresses_are_found_by_their_canonical_form_and_taken(storage: Storage) -> None:
    users = {stored: _older_user(stored) for stored in OLDER}
    for user in users.values():
        storage.add_user(user)
    assert storage.find_user_by_email(normalise_email("ada@münchen.de")) is None  # the fault, before

    assert storage.canonicalise_emails() == []

    for stored, canonical in OLDER.items():
        assert normalise_email(stored) == canonical
        found = storage.find_user_by_email(canonical)
        assert found is not None and found.id == users[stored].id and found.email == canonical
        assert storage.find_user_by_email(stored) is None
        with pytest.raises(AccountExists):
            storage.add_user(make_user(email=canonical, phone=None))
    assert storage.canonicalise_emails() == []  # a second run: nothing left to do
    assert storage.find_user_by_email("bob@example.com") is not None


def test_two_accounts_of_one_canonical_address_are_both_kept_and_reported(storage: Storage) -> None:
    """An account holding the canonical address keeps it; of two older spellings the older account gets
    it. The other keeps its spelling (for the operator: never merged, never dropped)."""
    older_spelling = _older_user("ada@münchen.de", minutes=0)  # stored by 0.1.0
    canonical_first = _older_user("ada@xn--mnchen-3ya.de", minutes=1)  # signed up after the upgrade
    first = _older_user("jose\u0301@example.com", minutes=2)
    second = _older_user("jos\u00e9@\uff45xample.com", minutes=3)
    for user in (canonical_first, older_spelling, first, second):
        storage.add_user(user)

    collisions = storage.canonicalise_emails()

    assert collisions == [
        EmailCollision("ada@xn--mnchen-3ya.de", canonical_first.id, older_spelling.id),
        EmailCollision("jos\u00e9@example.com", first.id, second.id),
    ]
    for user, email in (
        (canonical_first, "ada@xn--mnchen-3ya.de"),
        (older_spelling, "ada@münchen.de"),
        (first, "jos\u00e9@example.com"),
        (second, "jos\u00e9@\uff45xample.com"),
    ):
        kept = storage.get_user(user.id)
        assert kept is not None and kept.email == email and kept.password_hash == user.password_hash
    assert storage.canonicalise_emails() == collisions  # reported again, changed by nothing


def test_two_upgrades_and_a_sign_up_at_once_leave_one_owner_per_address(storage: Storage) -> None:
    """Two processes upgrading at once, while a sign-up of the canonical address arrives: never two
    accounts with the address, never a failed upgrade, never a lost account."""
    older = _older_user("ada@münchen.de")
    storage.add_user(older)
    newcomer = _older_user("ada@xn--mnchen-3ya.de", minutes=5)
    barrier = threading.Barrier(3)
    outcomes: dict[str, object] = {}

    def upgrade(name: str) -> None:
        barrier.wait()
        outcomes[name] = storage.canonicalise_emails()

    def sign_up() -> None:
        barrier.wait()
        try:
            storage.add_user(newcomer)
            outcomes["sign-up"] = "added"
        except AccountExists:
            outcomes["sign-up"] = "taken"

    threads = [threading.Thread(target=upgrade, args=(n,)) for n in ("a", "b")] + [
        threading.Thread(target=sign_up)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    owner = storage.find_user_by_email("ada@xn--mnchen-3ya.de")
    assert owner is not None
    kept = storage.get_user(older.id)
    assert kept is not None
    if outcomes["sign-up"] == "taken":
        assert owner.id == older.id and storage.get_user(newcomer.id) is None
    else:
        assert owner.id == newcomer.id and kept.email == "ada@münchen.de"
        assert storage.canonicalise_emails() == [
            EmailCollision("ada@xn--mnchen-3ya.de", newcomer.id, older.id)
        ]
