"""Adding or removing a way to sign in asks for the current password again, as a change of password, number
or address and an authenticator app's enrolment already did (security checklist S7).

Before, an access token alone added a passkey (which then signed in without any password, past a password
change and the end of every session), made fresh recovery codes (ending the owner's), and removed a
passkey. A stolen or left-open session could so keep the account for good. Every such check counts like a
sign-in, the account's deletion's too (it did not count wrong passwords at all).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PHONE, register, sign_in
from tests.factors.soft_authenticator import SoftAuthenticator
from tests.factors.test_passkeys_api import ORIGIN, REAUTH, add_passkey, bearer
from tests.functional.test_account_lifecycle import verify_email
from twostep.container import Container
from twostep.domain.totp import code_at, time_step

WRONG = {"currentPassword": "not the password at all"}


@pytest.fixture
def pair(client: TestClient, container: Container) -> dict[str, Any]:
    register(client)
    return sign_in(client, container)


def _reasons(container: Container) -> list[str | None]:
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None
    return [
        e.detail.get("reason")
        for e in container.storage.list_audit(user.id, limit=50)
        if e.event == "login_failed"
    ]


def _refused(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code


@pytest.mark.parametrize("path", ["/me/passkeys/options", "/me/factors/recovery-codes"])
def test_an_access_token_alone_adds_no_way_to_sign_in(
    client: TestClient, container: Container, pair: dict[str, Any], path: str
) -> None:
    _refused(client.post(path, headers=bearer(pair)), 422, "invalid_input")
    _refused(client.post(path, json=WRONG, headers=bearer(pair)), 401, "invalid_credentials")
    reason = "reauth_passkey" if "passkeys" in path else "reauth_recovery_codes"
    assert _reasons(container) == [reason]
    assert client.post(path, json=REAUTH, headers=bearer(pair)).status_code == 200


def test_a_passkey_is_added_only_after_the_password(client: TestClient, pair: dict[str, Any]) -> None:
    key = SoftAuthenticator(ORIGIN)
    assert add_passkey(client, pair, key).status_code == 201
    assert len(client.get("/me/passkeys", headers=bearer(pair)).json()) == 1


def test_recovery_codes_are_kept_after_a_wrong_password(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    first = client.post("/me/factors/recovery-codes", json=REAUTH, headers=bearer(pair)).json()[
        "recoveryCodes"
    ]
    client.post("/me/factors/recovery-codes", json=WRONG, headers=bearer(pair))
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None and container.storage.count_recovery_codes(user.id) == len(first) == 10


def test_a_passkey_is_removed_only_after_the_password(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    assert add_passkey(client, pair, SoftAuthenticator(ORIGIN)).status_code == 201
    remove = f"/me/passkeys/{client.get('/me/passkeys', headers=bearer(pair)).json()[0]['id']}/remove"
    _refused(client.post(remove, headers=bearer(pair)), 422, "invalid_input")
    _refused(client.post(remove, json=WRONG, headers=bearer(pair)), 401, "invalid_credentials")
    assert len(client.get("/me/passkeys", headers=bearer(pair)).json()) == 1
    assert _reasons(container) == ["reauth_passkey_off"]
    assert client.post(remove, json=REAUTH, headers=bearer(pair)).status_code == 204
    assert client.get("/me/passkeys", headers=bearer(pair)).json() == []


@pytest.mark.parametrize("path", ["/me/passkeys/options", "/me/factors/recovery-codes"])
def test_the_password_check_is_throttled_like_a_sign_in(
    client: TestClient, pair: dict[str, Any], path: str
) -> None:
    """A stolen access token must not become a password oracle."""
    statuses = [
        client.post(path, json={"currentPassword": f"wrong guess {i}"}, headers=bearer(pair)).status_code
        for i in range(8)
    ]
    assert statuses[0] == 401 and 429 in statuses, statuses


def test_the_deletions_password_check_is_throttled_like_a_sign_in(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    """Deleting the account asked for the password without counting wrong ones: a fresh access token could
    try passwords as fast as the server hashes them, past every sign-in limit."""
    statuses = [
        client.request(
            "DELETE", "/me", json={"currentPassword": f"wrong guess {i}"}, headers=bearer(pair)
        ).status_code
        for i in range(8)
    ]
    assert statuses[0] == 403 and 429 in statuses, statuses
    assert container.storage.find_user_by_email("test@example.com") is not None
    assert set(_reasons(container)) == {"reauth_delete"}


# In the account's language: none stored, so its number's country's (+90).
NOTICE = "twostep: hesabınıza bir giriş yöntemi eklendi veya kaldırıldı."  # noqa: RUF001


def _notices(container: Container) -> list[str]:
    return [e.body for e in container.storage.list_outbox(to="test@example.com", last=50) if NOTICE in e.body]


def test_each_added_or_removed_way_to_sign_in_is_announced_by_email(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    """The owner hears of a passkey, an authenticator app or recovery codes they did not add (by email: a
    text would cost money for every change), as of a new number, address or password."""
    verify_email(client, container, pair, "test@example.com")
    texts = len(container.storage.list_outbox(to=PHONE, last=100))
    assert add_passkey(client, pair, SoftAuthenticator(ORIGIN)).status_code == 201
    passkey = client.get("/me/passkeys", headers=bearer(pair)).json()[0]["id"]
    client.post(f"/me/passkeys/{passkey}/remove", json=REAUTH, headers=bearer(pair))
    client.post("/me/factors/recovery-codes", json=REAUTH, headers=bearer(pair))
    secret = client.post("/me/factors/totp", json=REAUTH, headers=bearer(pair)).json()["secret"]
    code = code_at(secret, time_step(container.clock.now()))
    assert (
        client.post("/me/factors/totp/confirm", json={"code": code}, headers=bearer(pair)).status_code == 200
    )
    assert client.post("/me/factors/totp/disable", json=REAUTH, headers=bearer(pair)).status_code == 204
    assert len(_notices(container)) == 5  # added, removed, new codes, app on, app off
    assert len(container.storage.list_outbox(to=PHONE, last=100)) == texts


def test_an_unproven_address_gets_no_notice_the_proven_number_does(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    """The number is then the only channel that can warn the owner (see test_phone_only_notices.py)."""
    assert add_passkey(client, pair, SoftAuthenticator(ORIGIN)).status_code == 201
    assert _notices(container) == []
    assert container.storage.list_outbox(to=PHONE, last=1)[-1].body.startswith(NOTICE)
