"""A sign-in without a second step whose checks pass while the account's password changes opens no session
(in process, console providers).

The change ends every session of the account and forgets its remembered devices. A sign-in that read the
account before the change and wrote its session after the change listed the sessions to end kept that
session (`200`): whoever held the old password could keep signing in in a loop and so outlast the change.
The session is now stored only while the account is as the sign-in checked it (`410 credentials_changed`),
and so is a device the sign-in remembers.
Each test makes the change commit at the one moment a concurrent request would: inside the sign-in's
check, through the same services a `POST /me/password` uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, sign_in
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.passwords import PasswordHasher
from twostep.services.devices import DeviceService
from twostep.services.tokens import TokenService

NEW_PASSWORD = "a brand new passphrase here"
EMAIL = "test@example.com"


def _user_id(container: Container) -> str:
    user = container.storage.find_user_by_email(EMAIL)
    assert user is not None
    return user.id


def change_password_during(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, container: Container
) -> list[int]:
    """Make the next call of `owner.name` (a class's method or an object's attribute), after its own work,
    change the account's password and end its sessions, as the owner's request would at that moment;
    returns the list the count of sessions left live by the change goes to."""
    original: Callable[..., Any] = getattr(owner, name)
    ended: list[int] = []

    def then_change(*args: Any, **kwargs: Any) -> Any:
        answer = original(*args, **kwargs)
        if not ended:
            ended.append(-1)  # before the change's own password check comes here again
            monkeypatch.setattr(owner, name, original)
            container.changes.change_password(_user_id(container), PASSWORD, NEW_PASSWORD)
            ended[0] = len(container.storage.list_sessions(_user_id(container), container.clock.now()))
        return answer

    monkeypatch.setattr(owner, name, then_change)
    return ended


def _refused(client: TestClient, container: Container, body: dict[str, Any]) -> None:
    answer = client.post("/login", json=body)
    assert (answer.status_code, answer.json()["code"]) == (410, "credentials_changed"), answer.text
    assert container.storage.list_sessions(_user_id(container), container.clock.now()) == []
    events = container.storage.list_audit(_user_id(container), limit=50)
    failed = [e.detail.get("reason") for e in events if e.event == "login_failed"]
    assert failed == ["credentials_changed"]
    assert sum(e.event == "login_succeeded" for e in events) == 1  # the first sign-in's only


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_password_only_sign_in_checked_as_the_password_changes_opens_no_session(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    container = make_container(storage=storage, require_second_factor=False)
    with TestClient(create_app(container)) as client:
        register(client, phone=None)
        first = client.post("/login", json={"email": EMAIL, "password": PASSWORD})
        assert first.status_code == 200 and "accessToken" in first.json(), first.text
        ended = change_password_during(monkeypatch, PasswordHasher, "check", container)
        _refused(client, container, {"email": EMAIL, "password": PASSWORD})
        assert ended == [0]  # the change found and ended the first sign-in's session
        again = client.post("/login", json={"email": EMAIL, "password": NEW_PASSWORD})
        assert again.status_code == 200 and "accessToken" in again.json(), again.text


def test_a_remembered_device_sign_in_as_the_password_changes_opens_no_session(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(client)
    device = sign_in(client, container, email=EMAIL, remember_device=True)["deviceToken"]
    change_password_during(monkeypatch, DeviceService, "recognises", container)
    _refused(client, container, {"email": EMAIL, "password": PASSWORD, "deviceToken": device})
    again = sign_in_with(client, container, NEW_PASSWORD)
    assert "accessToken" in again


def sign_in_with(client: TestClient, container: Container, password: str) -> dict[str, Any]:
    started = client.post("/login", json={"email": EMAIL, "password": password})
    assert started.status_code == 200, started.text
    done = client.post(f"/otp/{started.json()['otpId']}/verify", json={"otp": latest_code(container)})
    assert done.status_code == 200, done.text
    return dict(done.json())


def test_a_sign_in_finished_as_the_password_changes_opens_no_session(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code step: the change commits after the code was checked against the login as read."""
    register(client)
    sign_in(client, container)  # proves the number: the next sign-in stores its counts with the session
    started = client.post("/login", json={"email": EMAIL, "password": PASSWORD}).json()
    code = latest_code(container)
    ended = change_password_during(monkeypatch, container.limits, "code_success_counts", container)
    done = client.post(f"/otp/{started['otpId']}/verify", json={"otp": code})
    assert done.status_code == 410 and done.json().get("code") == "credentials_changed", done.text
    assert ended == [0]
    assert container.storage.list_sessions(_user_id(container), container.clock.now()) == []


def test_a_device_remembered_as_the_password_changes_is_not_kept(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change forgets every remembered device. One whose sign-in stored its session before the change
    and its device after the change's forgetting was kept: a later holder of the new password would skip
    the second step on it. The device is now stored only while the account is as its sign-in checked it."""
    register(client)
    sign_in(client, container)
    started = client.post("/login", json={"email": EMAIL, "password": PASSWORD}).json()
    ended = change_password_during(monkeypatch, TokenService, "_access", container)
    done = client.post(
        f"/otp/{started['otpId']}/verify", json={"otp": latest_code(container), "rememberDevice": True}
    )
    assert (done.status_code, done.json().get("code")) == (410, "credentials_changed"), done.text
    assert ended == [0]  # the change found the sign-in's session and ended it
    assert container.storage.list_remembered_devices(_user_id(container), container.clock.now()) == []
    assert container.storage.list_sessions(_user_id(container), container.clock.now()) == []
    events = container.storage.list_audit(_user_id(container), limit=50)
    assert [e.detail.get("reason") for e in events if e.event == "login_failed"] == ["credentials_changed"]
    assert not any(e.event == "device_remembered" for e in events)
