"""Users: unique email and phone, even when 50 registrations race."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.helpers import NOW, make_refresh, make_user, run_together
from twostep.domain.errors import AccountExists
from twostep.domain.ports import Storage


def test_add_and_find(storage: Storage) -> None:
    user = make_user()
    storage.add_user(user)
    assert storage.get_user(user.id) == user
    assert storage.find_user_by_email("a@example.com") == user
    assert storage.find_user_by_email("nobody@example.com") is None
    assert storage.get_user("missing") is None


def test_email_is_unique(storage: Storage) -> None:
    storage.add_user(make_user(phone="+905555555555"))
    with pytest.raises(AccountExists):
        storage.add_user(make_user(phone="+905555555556"))


def test_a_proven_phone_is_unique(storage: Storage) -> None:
    storage.add_user(make_user(email="a@example.com", phone_verified=True))
    with pytest.raises(AccountExists):
        storage.add_user(make_user(email="b@example.com"))
    assert storage.find_user_by_email("b@example.com") is None  # nothing half-written


def test_users_without_phone_do_not_collide(storage: Storage) -> None:
    storage.add_user(make_user(email="a@example.com", phone=None))
    storage.add_user(make_user(email="b@example.com", phone=None))
    assert storage.find_user_by_email("b@example.com") is not None


def test_fifty_concurrent_registrations_of_one_email_make_one_account(storage: Storage) -> None:
    def register(i: int) -> str:
        user = make_user(email="race@example.com", phone=f"+9055555{i:05d}")
        storage.add_user(user)
        return user.id

    results = run_together(50, register)
    created = [r for r in results if isinstance(r, str)]
    assert len(created) == 1
    assert all(isinstance(r, AccountExists) for r in results if not isinstance(r, str))
    found = storage.find_user_by_email("race@example.com")
    assert found is not None and found.id == created[0]


def test_list_users_pages(storage: Storage) -> None:
    for i in range(5):
        storage.add_user(make_user(email=f"u{i}@example.com", phone=None))
    first = storage.list_users(3)
    second = storage.list_users(3, first.next_cursor)
    assert len(first.items) == 3 and first.next_cursor is not None
    assert len(second.items) == 2 and second.next_cursor is None
    assert {u.email for u in first.items + second.items} == {f"u{i}@example.com" for i in range(5)}


def test_delete_user_frees_email_and_phone_and_revokes_tokens(storage: Storage) -> None:
    user = make_user()
    storage.add_user(user)
    token = make_refresh(user_id=user.id)
    storage.add_refresh_token(token)
    assert storage.delete_user(user.id, NOW)
    assert storage.get_user(user.id) is None
    assert storage.claim_refresh_token(token.token_hash, NOW + timedelta(seconds=1)) is None
    storage.add_user(make_user())  # the same email and phone are free again
    assert not storage.delete_user("missing", NOW)
