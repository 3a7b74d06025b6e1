"""A number change confirmed in the moment a password change commits does not go through after it (in
process, console providers).

`POST /me/phone/verify` reads the account, checks the code, then writes the number. A password change
committing in between (the owner's, after a stolen password began the number change) ended every other
session, yet the number was written over it: whoever held the old password got their number on the
account, and with it the account's resets. The number is now written only while the account still has
the password, number and address the request read (`410 credentials_changed` otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, register, sign_in
from tests.functional.test_account_lifecycle import bearer
from tests.functional.test_sign_in_during_change import NEW_PASSWORD
from twostep.api.app import create_app
from twostep.container import Container

NEW_PHONE = "+905555555566"


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_number_is_not_written_over_a_password_change(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    container = make_container(storage=storage)
    with TestClient(create_app(container)) as client:
        register(client)
        tokens = sign_in(client, container)
        body = {"phoneNumber": NEW_PHONE, "currentPassword": PASSWORD}
        started = client.post("/me/phone", json=body, headers=bearer(tokens))
        assert started.status_code == 202, started.text
        confirm = {"changeId": started.json()["changeId"], "code": latest_code(container, NEW_PHONE)}
        user_id = client.get("/me", headers=bearer(tokens)).json()["id"]
        original = container.codes.check_owned

        def then_change(*args: Any, **kwargs: Any) -> Any:
            checked = original(*args, **kwargs)
            monkeypatch.setattr(container.codes, "check_owned", original)
            container.changes.change_password(user_id, PASSWORD, NEW_PASSWORD)  # the owner's request
            return checked

        monkeypatch.setattr(container.codes, "check_owned", then_change)
        answer = client.post("/me/phone/verify", json=confirm, headers=bearer(tokens))
        assert (answer.status_code, answer.json()["code"]) == (410, "credentials_changed"), answer.text
        account = container.storage.get_user(user_id)
        assert account is not None and (account.phone, account.phone_verified) == (PHONE, True)
        events = container.storage.list_audit(user_id, limit=50)
        failed = [e.detail.get("reason") for e in events if e.event == "phone_change_failed"]
        assert failed == ["credentials_changed"]
        assert not [e for e in events if e.event == "phone_changed"]
