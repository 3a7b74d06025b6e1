"""A password reset tells the account's owner, like every other change of how it signs in.

Before, a reset (forgot password, a code, a new password) told the owner nothing on any channel: whoever read
the code (a swapped SIM, a read mailbox) took the account over quietly. Now the owner gets the
`password_reset` notice in their language once the reset is written: by email to a proven address; by text
to the proven number when the code was emailed (the mailbox may be what was stolen) or when the number is
the only channel proven. The notice never carries the code or the password, spends the account's daily cap
on notices by text, and a notice that cannot go is audited while the reset stands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PHONE, latest_code, register, sign_in
from tests.factors.test_passkeys_api import REAUTH
from tests.functional.test_account_lifecycle import bearer, email_code, verify_email
from twostep.api.app import create_app
from twostep.container import Container

NEW_PASSWORD = "a brand new passphrase here"
ADDRESS = "test@example.com"
# In the account's language: none stored, so its number's country's (+90).
RESET_NOTICE = "twostep: hesabınızın şifresi sıfırlandı."  # noqa: RUF001


def texts(container: Container) -> list[str]:
    return [e.body for e in container.storage.list_outbox(to=PHONE, last=100)]


def emails(container: Container) -> list[str]:
    return [e.body for e in container.storage.list_outbox(to=ADDRESS, last=100) if e.provider == "email"]


def reset_password(client: TestClient, container: Container, channel: str, phone: str = PHONE) -> str:
    """Forgot password, the code from `channel`'s outbox (`phone`'s for a text), a new password; returns
    the code used."""
    started = client.post("/password/forgot", json={"email": ADDRESS, "channel": channel})
    assert started.status_code == 202, started.text
    code = email_code(container, ADDRESS) if channel == "email" else latest_code(container, phone)
    reset = {"resetId": started.json()["resetId"], "code": code, "newPassword": NEW_PASSWORD}
    done = client.post("/password/reset", json=reset)
    assert done.status_code == 204, done.text
    return code


def signs_in_with_the_new_password(client: TestClient) -> bool:
    return client.post("/login", json={"email": ADDRESS, "password": NEW_PASSWORD}).status_code == 200


def notices_sent(container: Container) -> list[str]:
    return [e.detail["channel"] for e in container.storage.list_audit(limit=200) if e.event == "notice_sent"]


@pytest.fixture
def pair(client: TestClient, container: Container) -> dict[str, Any]:
    register(client)
    return sign_in(client, container)  # proves the number; the address stays unproven


def test_a_reset_by_text_is_texted_to_an_owner_without_a_proven_address(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    sent = texts(container)
    code = reset_password(client, container, "sms")
    code_text, notice = texts(container)[len(sent) :]
    assert code_text.startswith(code) and notice.startswith(RESET_NOTICE)
    assert code not in notice and NEW_PASSWORD not in notice
    assert not emails(container)  # the address was never proven: nothing goes there
    assert notices_sent(container) == ["sms"]
    assert signs_in_with_the_new_password(client)


def test_a_reset_by_text_is_emailed_to_a_proven_address_and_not_texted(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    verify_email(client, container, pair, ADDRESS)
    sent = texts(container)
    code = reset_password(client, container, "sms")
    (code_text,) = texts(container)[len(sent) :]  # the code only: a text costs money
    assert code_text.startswith(code)
    notice = emails(container)[-1]  # its subject, then the body
    assert RESET_NOTICE in notice and code not in notice and NEW_PASSWORD not in notice
    assert notices_sent(container) == ["email"]


def test_a_reset_by_emailed_code_is_texted_to_the_proven_number_too(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    """The mailbox the code went to may be the thing stolen: the number warns the owner as well."""
    verify_email(client, container, pair, ADDRESS)
    sent = texts(container)
    code = reset_password(client, container, "email")
    (notice,) = texts(container)[len(sent) :]
    assert notice.startswith(RESET_NOTICE) and code not in notice and NEW_PASSWORD not in notice
    emailed = emails(container)[-1]
    assert RESET_NOTICE in emailed and code not in emailed and NEW_PASSWORD not in emailed
    assert sorted(notices_sent(container)) == ["email", "sms"]


def test_the_notice_is_in_the_owners_language_not_the_requesters(
    client: TestClient, container: Container, pair: dict[str, Any]
) -> None:
    assert client.put("/me/locale", json={"locale": "de"}, headers=bearer(pair)).status_code == 200
    started = client.post(
        "/password/forgot", json={"email": ADDRESS}, headers={"Accept-Language": "ja"}
    ).json()
    reset = {"resetId": started["resetId"], "code": latest_code(container), "newPassword": NEW_PASSWORD}
    assert client.post("/password/reset", json=reset, headers={"Accept-Language": "ja"}).status_code == 204
    assert texts(container)[-1].startswith("twostep: Das Passwort Ihres Kontos wurde zurückgesetzt.")


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_past_the_daily_cap_the_notice_is_dropped_and_audited_and_the_reset_stands(
    make_container: Callable[..., Container], storage: str
) -> None:
    container = make_container(storage=storage, account_sms_per_day=2)
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        for _ in range(2):  # recovery codes made anew twice: their notices spend the day's two texts
            made = client.post("/me/factors/recovery-codes", json=REAUTH, headers=bearer(pair))
            assert made.status_code == 200
        sent = texts(container)
        reset_password(client, container, "sms")
        (code_text,) = texts(container)[len(sent) :]  # the code, and no notice
        assert not code_text.startswith(RESET_NOTICE)
    user = container.storage.find_user_by_email(ADDRESS)
    assert user is not None and container.passwords.verify(user.password_hash, NEW_PASSWORD)
    audit = container.storage.list_audit(limit=200)
    failed = [e.detail for e in audit if e.event == "code_delivery_failed"]
    assert [(d["purpose"], d["reason"]) for d in failed] == [("notice", "rate_limited")]
