"""Proving the account's address does not undo a change of address that committed inside the proof (in
process, console providers).

`POST /me/email/verify` with the code of proving the current address checks that the address is still the
account's, then writes it as proven. The owner's change to a new address, confirmed at that moment, was
overwritten: the old address came back as the account's, proven, and the new one was left without its
account. The write now happens only while the account still has the password, number and address the
request read (`410 credentials_changed` otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, register, sign_in
from tests.functional.test_account_lifecycle import bearer, email_code
from twostep.api.app import create_app
from twostep.container import Container

OLD, NEW = "test@example.com", "new@example.com"


def _started(
    client: TestClient, path: str, tokens: dict[str, Any], body: dict[str, Any] | None = None
) -> str:
    answer = client.post(path, json=body, headers=bearer(tokens))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["changeId"])


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_proof_of_the_old_address_does_not_undo_a_new_one(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    container = make_container(storage=storage)
    with TestClient(create_app(container)) as client:
        register(client)
        tokens = sign_in(client, container)
        proof = {
            "changeId": _started(client, "/me/email/verify/start", tokens),
            "code": email_code(container, OLD),
        }
        change_id = _started(client, "/me/email", tokens, {"email": NEW, "currentPassword": PASSWORD})
        change_code = email_code(container, NEW)
        user_id = tokens_subject(container)
        original = container.codes.check_owned

        def then_change(*args: Any, **kwargs: Any) -> Any:
            checked = original(*args, **kwargs)
            monkeypatch.setattr(container.codes, "check_owned", original)
            container.changes.confirm_email(user_id, change_id, change_code)  # the owner's other request
            return checked

        monkeypatch.setattr(container.codes, "check_owned", then_change)
        answer = client.post("/me/email/verify", json=proof, headers=bearer(tokens))
        assert (answer.status_code, answer.json()["code"]) == (410, "credentials_changed"), answer.text
        account = container.storage.get_user(user_id)
        assert account is not None and (account.email, account.email_verified) == (NEW, True)
        assert container.storage.find_user_by_email(OLD) is None
        failed = [
            e for e in container.storage.list_audit(user_id, limit=50) if e.event == "email_change_failed"
        ]
        assert [e.detail.get("reason") for e in failed] == ["credentials_changed"]
        assert client.post("/login", json={"email": NEW, "password": PASSWORD}).status_code == 200


def tokens_subject(container: Container) -> str:
    user = container.storage.find_user_by_email(OLD)
    assert user is not None
    return user.id
