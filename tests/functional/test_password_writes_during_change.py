"""A password write whose checks passed before the account changed does not undo the change (in process,
console providers).

Three requests write a password hash after checking the account: a sign-in that rehashes the password under
raised hash parameters, a password change (after its current password), and a reset (after its code). Each
wrote unconditionally, so another password change committing inside the check was overwritten: the
sign-in put the old password back, and of two changes made with the same current password the later write
won. The write now happens only while the account still has the credentials the request checked
(`410 credentials_changed` otherwise). Each test makes the other change commit at the one moment a
concurrent request would: inside the request's own password work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, sign_in
from tests.functional.test_sign_in_during_change import EMAIL, NEW_PASSWORD, change_password_during
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.passwords import PasswordHasher

THIRD_PASSWORD = "yet another long passphrase"


def _signs_in_with(client: TestClient, password: str) -> bool:
    return client.post("/login", json={"email": EMAIL, "password": password}).status_code == 200


def _refused(answer: Any) -> None:
    assert answer.status_code == 410, answer.text
    assert answer.json()["code"] == "credentials_changed"


def _failed_reasons(container: Container, event: str) -> list[str | None]:
    user = container.storage.find_user_by_email(EMAIL)
    assert user is not None
    return [
        e.detail.get("reason") for e in container.storage.list_audit(user.id, limit=50) if e.event == event
    ]


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_sign_in_rehashing_the_password_does_not_undo_a_password_change(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    """Hash parameters raised since the password was set: the sign-in that checks the old password stores
    its new hash. A change committed inside that check was overwritten, and the old password worked again."""
    container = make_container(storage=storage)
    with TestClient(create_app(container)) as client:
        register(client)
        user = container.storage.find_user_by_email(EMAIL)
        assert user is not None
        outdated = PasswordHasher(memory_kib=8192, time_cost=1).hash(PASSWORD)
        assert container.storage.set_password_hash(user, outdated)
        ended = change_password_during(monkeypatch, PasswordHasher, "check", container)
        answer = client.post("/login", json={"email": EMAIL, "password": PASSWORD})
        _refused(answer)
        assert ended == [0]
        assert _failed_reasons(container, "login_failed") == ["credentials_changed"]
        assert not _signs_in_with(client, PASSWORD)
        assert _signs_in_with(client, NEW_PASSWORD)


def _change(client: TestClient, tokens: dict[str, Any], new: str) -> Any:
    body = {"currentPassword": PASSWORD, "newPassword": new}
    return client.post(
        "/me/password", json=body, headers={"Authorization": f"Bearer {tokens['accessToken']}"}
    )


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_of_two_changes_made_with_one_current_password_only_the_first_is_kept(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    """Whoever else knows the current password cannot replace the owner's change by racing it: the
    change that checked the password before the other committed is refused."""
    container = make_container(storage=storage)
    with TestClient(create_app(container)) as client:
        register(client)
        tokens = sign_in(client, container)
        change_password_during(monkeypatch, PasswordHasher, "hash", container)
        answer = _change(client, tokens, THIRD_PASSWORD)
        _refused(answer)
        assert _failed_reasons(container, "password_change_failed") == ["credentials_changed"]
        assert not _signs_in_with(client, THIRD_PASSWORD)
        assert _signs_in_with(client, NEW_PASSWORD)


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_reset_whose_code_was_checked_as_the_password_changed_sets_no_password(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    """A reset begun before a change is refused (its flow keeps the account's tag); one whose code was
    checked a moment before the change committed was not, and overwrote it."""
    container = make_container(storage=storage)
    with TestClient(create_app(container)) as client:
        register(client)
        sign_in(client, container)  # proves the number the reset's code goes to
        started = client.post("/password/forgot", json={"email": EMAIL})
        reset = {
            "resetId": started.json()["resetId"],
            "code": latest_code(container),
            "newPassword": THIRD_PASSWORD,
        }
        change_password_during(monkeypatch, PasswordHasher, "hash", container)
        answer = client.post("/password/reset", json=reset)
        _refused(answer)
        assert _failed_reasons(container, "password_reset_failed") == ["credentials_changed"]
        assert not _signs_in_with(client, THIRD_PASSWORD)
        assert _signs_in_with(client, NEW_PASSWORD)
