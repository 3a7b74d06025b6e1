"""`twostep users set-email`: an administrator gives an account a new address, as a real process over the
SQLite file the API serves.

Before, there was no such command: an account whose unproven address was taken back by its owner (a
claim left it `released-…@email-released.invalid`) could never sign in by email again, though the docs
told its holder to ask an administrator; an administrator could only delete it. Now the command gives it
an address, normalised like sign-up's and stored unproven (its owner proves it as any address), refuses
one another account has, keeps the sessions, tells the old proven channels, and is audited."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register, sign_in
from tests.functional.test_account_lifecycle import bearer, email_code, refreshes, verify_email
from tests.functional.test_email_claims import claim, prove_claim
from tests.live import run_cli, server_env
from twostep.api.app import create_app
from twostep.container import Container
from twostep.services.email_claims import PLACEHOLDER_DOMAIN

ADDRESS = "test@example.com"
OWNER_PHONE = "+905555555566"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return server_env(tmp_path)


@pytest.fixture
def container(make_container: Any) -> Container:
    """The API's container over the SQLite file the command opens (`server_env`'s paths)."""
    built: Container = make_container(storage="sqlite", fraud_guard=False)
    return built


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as test_client:
        yield test_client


def set_email(env: dict[str, str], user_id: str, email: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, "users", "set-email", user_id, email)


def test_a_released_account_gets_a_new_address_and_proves_it(
    env: dict[str, str], client: TestClient, container: Container
) -> None:
    squatter = register(client)  # someone else's address, never proven
    sign_in(client, container)  # proves the squatter's own number
    started = claim(client)
    assert prove_claim(client, started["claimId"], email_code(container, ADDRESS)).status_code == 204
    released = container.storage.get_user(squatter["id"])
    assert released is not None and released.email.endswith("@" + PLACEHOLDER_DOMAIN)

    result = set_email(env, squatter["id"], "  Cem.Onan@EXAMPLE.org ")
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == f"{squatter['id']} now has c*******@example.org (unproven until its owner proves it)"
    )
    assert "cem.onan" not in result.stdout + result.stderr
    moved = container.storage.get_user(squatter["id"])
    assert moved is not None and moved.email == "cem.onan@example.org" and not moved.email_verified
    assert container.storage.find_user_by_email(released.email) is None  # the placeholder is gone

    # Its owner signs in with the new address and proves it through the usual flow.
    tokens = sign_in(client, container, email="cem.onan@example.org")
    verify_email(client, container, tokens, "cem.onan@example.org")
    proven = container.storage.get_user(squatter["id"])
    assert proven is not None and proven.email_verified
    event = next(e for e in container.audit.tail(user_id=squatter["id"]) if e.event == "email_changed")
    assert event.detail == {"by": "administrator"} and event.ip is None
    assert event.email_hash == container.audit.fingerprint("cem.onan@example.org")


def test_the_old_proven_channels_are_told_and_sessions_go_on(
    env: dict[str, str], client: TestClient, container: Container
) -> None:
    user = register(client)
    tokens = sign_in(client, container)
    verify_email(client, container, tokens, ADDRESS)
    texts_before = len(container.storage.list_outbox(to=PHONE, last=50))

    result = set_email(env, user["id"], "new@example.com")
    assert result.returncode == 0, result.stderr
    notice = container.storage.list_outbox(to=ADDRESS, last=1)[-1]
    assert (
        notice.channel == "email"
        and "n**@example.com" in notice.body
        and "new@example.com" not in notice.body
    )
    # It ends with when, and names an administrator rather than the operator's device and network (in
    # the owner's language: Turkish, their number's).
    time, changed_by = notice.body.splitlines()[-2:]
    assert re.fullmatch(r"Zaman: \d{4}-\d\d-\d\d \d\d:\d\d UTC", time)
    assert changed_by == "Değiştiren: bir yönetici"
    assert "Cihaz:" not in notice.body and "Ağ:" not in notice.body
    texts = container.storage.list_outbox(to=PHONE, last=50)
    assert len(texts) == texts_before + 1 and "n**@example.com" in texts[-1].body
    assert "UTC" not in texts[-1].body and "yönetici" not in texts[-1].body  # a text is the notice alone
    assert container.storage.list_outbox(to="new@example.com", last=5) == []  # nothing until asked
    # No session asked for it (unlike an owner's change, which a stolen session could make): they go on.
    assert refreshes(client, tokens)
    assert client.get("/me", headers=bearer(tokens)).json()["email"] == "new@example.com"
    assert client.post("/login", json={"email": ADDRESS, "password": PASSWORD}).status_code == 401


def test_an_address_another_account_has_is_refused(
    env: dict[str, str], client: TestClient, container: Container
) -> None:
    user = register(client)
    other = register(client, email="other@example.com", phone=OWNER_PHONE)
    for typed in ("other@example.com", "OTHER@Example.COM"):
        refused = set_email(env, user["id"], typed)
        assert refused.returncode == 1 and refused.stdout == "", refused
        assert refused.stderr == "twostep: Another account has the address o****@example.com.\n"
    same = set_email(env, user["id"], "Test@Example.com")
    assert same.returncode == 1 and same.stderr == "twostep: The account already has this email address.\n"
    bad = set_email(env, user["id"], "not an address")
    assert bad.returncode == 1 and bad.stderr.startswith("twostep: The email address is not valid")
    missing = set_email(env, "no-such-user", "free@example.com")
    assert missing.returncode == 3 and missing.stderr == "twostep: no user no-such-user\n"
    for account, address in ((user, ADDRESS), (other, "other@example.com")):
        stored = container.storage.get_user(account["id"])
        assert stored is not None and stored.email == address
    assert "email_changed" not in [e.event for e in container.audit.tail(user_id=user["id"])]
