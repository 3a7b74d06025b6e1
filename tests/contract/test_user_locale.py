"""The language a user wants texts in: stored with the account, changed and cleared on every backend."""

from __future__ import annotations

from tests.contract.helpers import NOW, make_user, run_together
from twostep.domain.ports import Storage


def test_a_new_user_keeps_the_locale_it_registered_with(storage: Storage) -> None:
    chosen, plain = make_user(locale="de"), make_user(email="plain@example.com", phone=None)
    storage.add_user(chosen)
    storage.add_user(plain)
    assert storage.get_user(chosen.id).locale == "de"  # type: ignore[union-attr]
    assert storage.find_user_by_email("a@example.com").locale == "de"  # type: ignore[union-attr]
    assert storage.get_user(plain.id).locale is None  # type: ignore[union-attr]
    assert {user.locale for user in storage.list_users(10).items} == {"de", None}


def test_the_locale_is_changed_and_cleared_without_touching_the_rest(storage: Storage) -> None:
    user = make_user(locale="tr")
    storage.add_user(user)
    assert storage.set_user_locale(user.id, "pt-BR")
    changed = storage.get_user(user.id)
    assert changed is not None and changed.locale == "pt-BR"
    assert (changed.email, changed.phone, changed.first_name) == (user.email, user.phone, user.first_name)
    assert storage.set_user_locale(user.id, None)
    assert storage.get_user(user.id).locale is None  # type: ignore[union-attr]


def test_no_locale_is_stored_for_a_missing_or_deleted_user(storage: Storage) -> None:
    assert not storage.set_user_locale("no-such-user", "de")
    assert storage.get_user("no-such-user") is None
    user = make_user()
    storage.add_user(user)
    assert storage.delete_user(user.id, NOW)
    assert not storage.set_user_locale(user.id, "de")
    assert storage.get_user(user.id) is None  # setting it did not bring the account back


def test_racing_changes_leave_one_of_the_written_values(storage: Storage) -> None:
    user = make_user()
    storage.add_user(user)
    tags = ["de", "tr", "fr", "es", "it", "pt", "nl", "pl"]
    assert all(
        result is True
        for result in run_together(len(tags), lambda i: storage.set_user_locale(user.id, tags[i]))
    )
    final = storage.get_user(user.id)
    assert final is not None and final.locale in tags and final.email == user.email
