"""A number or address written after its code was checked does not undo a change that committed in between
(in process, console providers).

`POST /me/email/verify` and `POST /me/phone/verify` read the account, check the code, then write. A change
committing in between was overwritten: proving the current address put the old address back over a new one
confirmed at that moment (the new one was left without its account), and a number change checked as the
owner's password change committed (after a stolen password began the number change) still put the number
on the account, and with it the account's resets. Each is now written only while the account still has the
password, number and address the request read (`410 credentials_changed` otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, register, sign_in
from tests.functional.test_account_lifecycle import bearer, email_code
from tests.functional.test_sign_in_during_change import NEW_PASSWORD
from twostep.api.app import create_app
from twostep.container import Container

OLD, NEW = "test@example.com", "new@example.com"
NEW_PHONE = "+905555555566"


class SignedIn(NamedTuple):
    container: Container
    client: TestClient
    tokens: dict[str, Any]
    user_id: str


@pytest.fixture(params=["memory", "sqlite"])
def signed_in(make_container: Callable[..., Container], request: pytest.FixtureRequest) -> Iterator[SignedIn]:
    """An account registered and signed in, on each storage the races are checked on."""
    container = make_container(storage=request.param)
    with TestClient(create_app(container)) as client:
        register(client)
        tokens = sign_in(client, container)
        user_id = client.get("/me", headers=bearer(tokens)).json()["id"]
        yield SignedIn(container, client, tokens, user_id)


def _started(
    client: TestClient, path: str, tokens: dict[str, Any], body: dict[str, Any] | None = None
) -> str:
    answer = client.post(path, json=body, headers=bearer(tokens))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["changeId"])


def _after_the_code_check(
    monkeypatch: pytest.MonkeyPatch, container: Container, change: Callable[[], object]
) -> None:
    """Make `change` commit right after the next request's code check, as the owner's other request would."""
    original = container.codes.check_owned

    def then_change(*args: Any, **kwargs: Any) -> Any:
        checked = original(*args, **kwargs)
        monkeypatch.setattr(container.codes, "check_owned", original)
        change()
        return checked

    monkeypatch.setattr(container.codes, "check_owned", then_change)


def _refused(answer: Any, container: Container, user_id: str, event: str) -> None:
    assert (answer.status_code, answer.json()["code"]) == (410, "credentials_changed"), answer.text
    events = container.storage.list_audit(user_id, limit=50)
    assert [e.detail.get("reason") for e in events if e.event == event] == ["credentials_changed"]


def test_a_proof_of_the_old_address_does_not_undo_a_new_one(
    signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    container, client, tokens, user_id = signed_in
    proof = {
        "changeId": _started(client, "/me/email/verify/start", tokens),
        "code": email_code(container, OLD),
    }
    change_id = _started(client, "/me/email", tokens, {"email": NEW, "currentPassword": PASSWORD})
    change_code = email_code(container, NEW)
    _after_the_code_check(
        monkeypatch, container, lambda: container.changes.confirm_email(user_id, change_id, change_code)
    )
    answer = client.post("/me/email/verify", json=proof, headers=bearer(tokens))
    _refused(answer, container, user_id, "email_change_failed")
    account = container.storage.get_user(user_id)
    assert account is not None and (account.email, account.email_verified) == (NEW, True)
    assert container.storage.find_user_by_email(OLD) is None
    assert client.post("/login", json={"email": NEW, "password": PASSWORD}).status_code == 200


def test_a_number_is_not_written_over_a_password_change(
    signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    container, client, tokens, user_id = signed_in
    change_id = _started(client, "/me/phone", tokens, {"phoneNumber": NEW_PHONE, "currentPassword": PASSWORD})
    confirm = {"changeId": change_id, "code": latest_code(container, NEW_PHONE)}
    _after_the_code_check(
        monkeypatch, container, lambda: container.changes.change_password(user_id, PASSWORD, NEW_PASSWORD)
    )
    answer = client.post("/me/phone/verify", json=confirm, headers=bearer(tokens))
    _refused(answer, container, user_id, "phone_change_failed")
    account = container.storage.get_user(user_id)
    assert account is not None and (account.phone, account.phone_verified) == (PHONE, True)
    assert not [e for e in container.storage.list_audit(user_id, limit=50) if e.event == "phone_changed"]
