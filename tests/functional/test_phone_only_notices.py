"""Notices of account changes reach an owner whose only proven channel is the number.

Before, a notice went by email to a proven address, and by text only for a number or address change. An
account with a proven number but no proven address (one that never proved it, or one whose address its
real owner took back, leaving a placeholder) heard of nothing else: a new password, a passkey or an
authenticator app added or removed, fresh recovery codes. A hijacked session could make those changes
quietly. Now such an owner gets the notice by text, in their language, within the account's daily cap on
notices by text (past it the notice is dropped and audited; the change stands). An owner with a proven
address still hears of these by email only (a text costs money).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register, sign_in
from tests.factors.soft_authenticator import SoftAuthenticator
from tests.factors.test_passkeys_api import ORIGIN, REAUTH, add_passkey, bearer
from tests.functional.test_account_lifecycle import verify_email
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.totp import code_at, time_step

NEW_PASSWORD = "a brand new passphrase here"
# In the account's language: none stored, so its number's country's (+90).
PASSWORD_NOTICE = "twostep: hesabınızın şifresi değiştirildi."  # noqa: RUF001
SIGN_IN_NOTICE = "twostep: hesabınıza bir giriş yöntemi eklendi veya kaldırıldı."  # noqa: RUF001

Change = Callable[[TestClient, Container, dict[str, Any]], None]


def texts(container: Container) -> list[str]:
    return [e.body for e in container.storage.list_outbox(to=PHONE, last=100)]


def change_password(client: TestClient, container: Container, pair: dict[str, Any]) -> None:
    change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert client.post("/me/password", json=change, headers=bearer(pair)).status_code == 204


def passkey_added(client: TestClient, container: Container, pair: dict[str, Any]) -> None:
    assert add_passkey(client, pair, SoftAuthenticator(ORIGIN)).status_code == 201


def passkey_removed(client: TestClient, container: Container, pair: dict[str, Any]) -> None:
    (passkey,) = client.get("/me/passkeys", headers=bearer(pair)).json()
    removed = client.post(f"/me/passkeys/{passkey['id']}/remove", json=REAUTH, headers=bearer(pair))
    assert removed.status_code == 204


def app_added(client: TestClient, container: Container, pair: dict[str, Any]) -> None:
    secret = client.post("/me/factors/totp", json=REAUTH, headers=bearer(pair)).json()["secret"]
    code = code_at(secret, time_step(container.clock.now()))
    assert (
        client.post("/me/factors/totp/confirm", json={"code": code}, headers=bearer(pair)).status_code == 200
    )


def app_removed(client: TestClient, container: Container, pair: dict[str, Any]) -> None:
    assert client.post("/me/factors/totp/disable", json=REAUTH, headers=bearer(pair)).status_code == 204


def new_recovery_codes(client: TestClient, container: Container, pair: dict[str, Any]) -> None:
    assert client.post("/me/factors/recovery-codes", json=REAUTH, headers=bearer(pair)).status_code == 200


@pytest.fixture
def pair(client: TestClient, container: Container) -> dict[str, Any]:
    register(client)
    return sign_in(client, container)  # proves the number; the address stays unproven


@pytest.mark.parametrize(
    ("before", "change", "notice"),
    [
        (None, change_password, PASSWORD_NOTICE),
        (None, passkey_added, SIGN_IN_NOTICE),
        (passkey_added, passkey_removed, SIGN_IN_NOTICE),
        (None, app_added, SIGN_IN_NOTICE),
        (app_added, app_removed, SIGN_IN_NOTICE),
        (None, new_recovery_codes, SIGN_IN_NOTICE),
    ],
    ids=["password", "passkey-added", "passkey-removed", "app-added", "app-removed", "recovery-codes"],
)
def test_each_change_is_texted_to_an_owner_without_a_proven_address(
    client: TestClient,
    container: Container,
    pair: dict[str, Any],
    before: Change | None,
    change: Change,
    notice: str,
) -> None:
    if before is not None:
        before(client, container, pair)
    sent = texts(container)
    change(client, container, pair)
    (texted,) = texts(container)[len(sent) :]
    assert texted.startswith(notice)
    assert "test@example.com" not in [e.to for e in container.storage.list_outbox(last=100)]


def test_an_owner_with_a_proven_address_hears_of_a_new_password_by_email_only(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    verify_email(client, container, pair, "test@example.com")
    sent = texts(container)
    change_password(client, container, pair)
    assert texts(container) == sent
    emailed = container.storage.list_outbox(to="test@example.com", last=1)[-1].body
    assert PASSWORD_NOTICE in emailed


def test_an_address_taken_back_leaves_the_number_to_warn_the_owner(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    """Its real owner took the address back (services/email_claims.py): the account's address is now a
    placeholder nobody reads, and its number is the only way to warn it."""
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None
    assert container.storage.release_email(user, "released-1@claimed.invalid")
    sent = texts(container)
    container.changes.change_password(user.id, PASSWORD, NEW_PASSWORD)
    (texted,) = texts(container)[len(sent) :]
    assert texted.startswith(PASSWORD_NOTICE)


def test_the_text_is_in_the_owners_language_not_the_requesters(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    assert client.put("/me/locale", json={"locale": "de"}, headers=bearer(pair)).status_code == 200
    change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    headers = bearer(pair) | {"Accept-Language": "ja"}
    assert client.post("/me/password", json=change, headers=headers).status_code == 204
    assert texts(container)[-1].startswith("twostep: Das Passwort Ihres Kontos wurde geändert.")


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_past_the_daily_cap_a_notice_is_dropped_and_audited_and_the_change_stands(
    make_container: Callable[..., Container], caplog: pytest.LogCaptureFixture, storage: str
) -> None:
    container = make_container(storage=storage, account_sms_per_day=2)
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        sent = texts(container)
        for _ in range(3):  # three ways to sign in made anew: two notices fit the day's cap
            new_recovery_codes(client, container, pair)
        change_password(client, container, pair)  # past the cap: still made
        notices = texts(container)[len(sent) :]
        assert client.post("/login", json={"email": "test@example.com", "password": NEW_PASSWORD}).is_success
    assert [body.startswith(SIGN_IN_NOTICE) for body in notices] == [True, True]
    audit = container.storage.list_audit(limit=200)
    failed = [e.detail for e in audit if e.event == "code_delivery_failed"]
    assert [(d["purpose"], d["reason"]) for d in failed] == [("notice", "rate_limited")] * 2
    assert [e.detail["limit"] for e in audit if e.event == "limit_hit"] == ["account_notice_day"] * 2
    assert not [e for e in audit if PHONE in str(e.detail)]  # no full number in the trail
    assert PHONE not in caplog.text and PHONE[1:] not in caplog.text  # nor in the logs
