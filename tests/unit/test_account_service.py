"""AccountService: the one place routes and the CLI read, list, delete and unlock accounts."""

from __future__ import annotations

import pytest

from twostep.container import Container
from twostep.domain.errors import InvalidToken, RateLimited
from twostep.services.account import AccountNotFound
from twostep.services.registration import Registration

from ..conftest import PASSWORD, PHONE


def _register(container: Container, email: str = "owner@example.com", phone: str | None = PHONE) -> str:
    form = Registration(email=email, password=PASSWORD, first_name="A", last_name="B", phone=phone)
    return container.registration.register(form).id


def test_get_current_and_list(container: Container) -> None:
    first = _register(container)
    second = _register(container, "second@example.com", "+905555555556")
    assert container.account.get(first).email == "owner@example.com"
    assert container.account.current(second).id == second
    page = container.account.list(1)
    assert len(page.items) == 1 and page.next_cursor is not None
    rest = container.account.list(10, page.next_cursor)
    assert {u.id for u in page.items + rest.items} == {first, second}


def test_missing_account(container: Container) -> None:
    with pytest.raises(AccountNotFound):
        container.account.get("nobody")
    with pytest.raises(InvalidToken):
        container.account.current("nobody")
    with pytest.raises(AccountNotFound):
        container.account.delete("nobody")
    with pytest.raises(AccountNotFound):
        container.account.unlock("nobody")


def test_delete_frees_email_and_phone_and_is_audited(container: Container) -> None:
    user_id = _register(container)
    container.account.delete(user_id)
    with pytest.raises(AccountNotFound):
        container.account.get(user_id)
    # The trail keeps the deletion, under the account's pseudonym only (no user id, email or address).
    assert container.audit.tail(user_id=user_id) == []
    pseudonym = container.account.pseudonym(user_id)
    assert [e.event for e in container.audit.tail(user_id=pseudonym)][-1] == "user_deleted"
    _register(container)  # the same email and phone may be used again


def test_unlock_lets_codes_be_checked_again(make_container: object) -> None:
    container = make_container(otp_account_failure_limit=1)  # type: ignore[operator]
    user_id = _register(container)
    container.limits.code_attempt_failed(user_id, container.limits.begin_code_attempt(user_id))
    with pytest.raises(RateLimited):
        container.limits.check_second_factor_allowed(user_id)
    container.account.unlock(user_id)
    container.limits.check_second_factor_allowed(user_id)
    assert [e.event for e in container.audit.tail(user_id=user_id)][-1] == "user_unlocked"
