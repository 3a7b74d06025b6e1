"""A guess's Argon2 work at sign-in: one run, except at an account whose hash predates the NFKC mark."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import argon2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, sign_in
from tests.unit.test_password_unicode import CountedRuns
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.identity import E164
from twostep.domain.models import User
from twostep.domain.password_spelling import NFKC_MARK, unmarked

OLD_PASSWORD = "strange harbour light \uff21\uff22"  # two full-width letters: NFC and NFKC spellings differ
GUESS = "wrong horse battery stap\uff4ce"  # a full-width l


def _library(container: Container) -> argon2.PasswordHasher:
    """argon2-cffi with the container's parameters: hashes as twostep made them before the mark."""
    return argon2.PasswordHasher.from_parameters(
        argon2.extract_parameters(unmarked(container.passwords.hash("x"))[0])
    )


def _account_from_before(container: Container, email: str, password_hash: str) -> None:
    created = container.clock.now()
    container.storage.add_user(
        User(
            id=email,
            email=email,
            password_hash=password_hash,
            created_at=created,
            phone=E164("+905551112233"),
        )
    )


def _failed_guess_runs(client: TestClient, clock: FixedClock, counted: CountedRuns, email: str) -> int:
    clock.advance(3600)  # past the last failure's delay
    counted.runs = 0
    answer = client.post("/login", json={"email": email, "password": GUESS})
    assert answer.status_code == 401, answer.text
    return counted.runs


def test_a_wrong_guess_with_a_full_width_letter_costs_one_run_unless_the_hash_predates_the_change(
    client: TestClient, container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, a wrong password with a compatibility character (a full-width letter, the ligature fi) was
    checked twice, with its NFKC and its NFC spelling, at every account and at unknown emails: an attacker
    doubled the server's Argon2 work per allowed attempt, for good. Now a new account's hash says it is of
    the NFKC spelling (one run), as does an unknown email's; a hash from before the change still gets the
    second run, until its next right sign-in replaces it."""
    register(client)
    _account_from_before(container, "old@example.com", _library(container).hash(OLD_PASSWORD))
    counted = CountedRuns(container.passwords, monkeypatch)
    assert _failed_guess_runs(client, clock, counted, "test@example.com") == 1
    assert _failed_guess_runs(client, clock, counted, "nobody@example.com") == 1
    assert _failed_guess_runs(client, clock, counted, "old@example.com") == 2

    clock.advance(3600)
    right = client.post("/login", json={"email": "old@example.com", "password": OLD_PASSWORD})
    assert right.status_code == 200, right.text
    assert _failed_guess_runs(client, clock, counted, "old@example.com") == 1


def test_a_right_sign_in_marks_a_hash_of_the_nfkc_spelling_without_hashing_again(
    client: TestClient, container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hash made in NFKC before the mark (or of a password whose spellings agree) is stored again with
    the mark at its next sign-in, without an Argon2 run; from then on a wrong guess costs one run."""
    before = _library(container).hash(unicodedata.normalize("NFKC", PASSWORD))
    _account_from_before(container, "early@example.com", before)
    hashed: list[str] = []
    monkeypatch.setattr(container.passwords, "hash", hashed.append)
    answer = client.post("/login", json={"email": "early@example.com", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    stored = container.storage.find_user_by_email("early@example.com")
    assert stored is not None and stored.password_hash == NFKC_MARK + before and hashed == []
    counted = CountedRuns(container.passwords, monkeypatch)
    assert _failed_guess_runs(client, clock, counted, "early@example.com") == 1


def test_a_backup_restored_signs_in_with_hashes_from_before_and_after_the_mark(
    make_container: Callable[..., Container],
    tmp_path: Path,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An SQLite backup holds both forms as stored; the deployment restored from it signs both accounts in
    (at `/login` and the Lambda JWT tutorial's `/signin`), a wrong guess costing each what it did before."""
    master_key = "restore test master key, 32 chars or more"
    live = make_container(storage="sqlite", master_key=master_key)
    with TestClient(create_app(live)) as client:
        register(client)
    _account_from_before(live, "old@example.com", _library(live).hash(OLD_PASSWORD))
    live.housekeeping.backup(tmp_path / "backup.db")
    restored = make_container(storage="sqlite", sqlite_path=tmp_path / "backup.db", master_key=master_key)
    with TestClient(create_app(restored)) as client:
        counted = CountedRuns(restored.passwords, monkeypatch)
        assert _failed_guess_runs(client, clock, counted, "test@example.com") == 1
        assert _failed_guess_runs(client, clock, counted, "old@example.com") == 2
        for route, email, password in [
            ("/login", "test@example.com", PASSWORD),
            ("/signin", "old@example.com", OLD_PASSWORD),
        ]:
            clock.advance(3600)
            answer = client.post(route, json={"email": email, "password": password})
            assert answer.status_code == 200 and "otpId" in answer.json(), answer.text


def test_a_sign_in_that_only_marks_the_hash_leaves_a_reset_in_flight_usable(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    """Before, the sign-in that stored an old hash with the NFKC mark (the same hash, the same password)
    changed the account's credentials tag as a new password does: a password reset (or a number or
    address change) begun before answered 410 `credentials_changed`, once at every account after the
    upgrade. Now the tag is taken without the mark, so only a real change of credentials ends them."""
    register(client)
    sign_in(client, container)  # proves the phone
    account = container.storage.find_user_by_email("test@example.com")
    assert account is not None
    assert container.storage.set_password_hash(account, unmarked(account.password_hash)[0])  # from before
    started = client.post("/password/forgot", json={"email": "test@example.com"})
    assert started.status_code == 202, started.text
    reset_code = latest_code(container)
    clock.advance(35)  # past the resend cooldown
    assert client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).status_code == 200
    marked_now = container.storage.find_user_by_email("test@example.com")
    assert marked_now is not None and marked_now.password_hash.startswith(NFKC_MARK)
    reset = {
        "resetId": started.json()["resetId"],
        "code": reset_code,
        "newPassword": "a brand new passphrase 42",
    }
    answer = client.post("/password/reset", json=reset)
    assert answer.status_code == 204, answer.text


def test_two_sign_ins_marking_one_old_hash_at_once_both_go_on(
    client: TestClient, container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, two right sign-ins of an account whose hash predates the NFKC mark (two tabs, a client's
    retry) both stored the same marked hash, each only over the hash it had read: the second's write
    found the first's and answered 410 `credentials_changed` to the right password. Now a write that finds
    the very hash it meant to store goes on."""
    register(client)
    sign_in(client, container)
    account = container.storage.find_user_by_email("test@example.com")
    assert account is not None
    assert container.storage.set_password_hash(account, unmarked(account.password_hash)[0])  # from before
    real_set = container.storage.set_password_hash
    first: list[int] = []

    def another_sign_in_first(account: User, new_hash: str) -> bool:
        if not first:
            first.append(0)
            clock.advance(35)  # past the resend cooldown
            other = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
            first[0] = other.status_code
        return real_set(account, new_hash)

    clock.advance(35)
    monkeypatch.setattr(container.storage, "set_password_hash", another_sign_in_first)
    answer = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert first == [200]
    assert answer.status_code == 200, answer.text
    stored = container.storage.find_user_by_email("test@example.com")
    assert stored is not None and stored.password_hash == NFKC_MARK + unmarked(account.password_hash)[0]
