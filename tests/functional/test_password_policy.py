"""A new password's length by the factors a deployment asks for, on every route that sets one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, register, sign_in
from tests.unit.test_password_unicode import full_width
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.models import User

FOURTEEN = "Vt7#qpLx2w-Rk9"  # long enough with a second factor, too short as the only one
FIFTEEN = FOURTEEN + "s"


@pytest.fixture
def password_only(make_container: Callable[..., Container]) -> Container:
    return make_container(require_second_factor=False)


@pytest.fixture
def password_only_client(password_only: Container) -> Iterator[TestClient]:
    with TestClient(create_app(password_only)) as test_client:
        yield test_client


def refused_for_length(answer: Any, field: str = "password") -> bool:
    """Refused naming `field`, the request's own name for the new password."""
    problem = answer.json()
    return (answer.status_code, problem["code"], problem.get("field")) == (
        400,
        "weak_password",
        field,
    ) and ("at least 15 characters" in problem["detail"])


def test_password_only_sign_up_needs_fifteen_characters(
    password_only_client: TestClient, password_only: Container
) -> None:
    """Before, with `TWOSTEP_REQUIRE_SECOND_FACTOR=false` a sign-up took a password of 8 characters that
    then signed in alone; NIST SP 800-63B-4 asks 15 of a password that may be the only factor."""
    body = {"email": "solo@example.com", "password": FOURTEEN}
    assert refused_for_length(password_only_client.post("/register", json=body))
    assert password_only.storage.find_user_by_email("solo@example.com") is None
    assert password_only_client.post("/register", json=body | {"password": FIFTEEN}).status_code == 201
    signed_in = password_only_client.post("/login", json=body | {"password": FIFTEEN})
    assert signed_in.status_code == 200 and "accessToken" in signed_in.json()


def test_password_only_change_and_reset_need_fifteen_characters(
    password_only_client: TestClient, password_only: Container
) -> None:
    """Before, a password change or reset in a password-only deployment took 8 characters as well."""
    register(password_only_client)  # with a phone: it signs in with a code, and resets by text
    tokens = sign_in(password_only_client, password_only)
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    change = {"currentPassword": PASSWORD, "newPassword": FOURTEEN}
    answer = password_only_client.post("/me/password", json=change, headers=headers)
    assert refused_for_length(answer, "newPassword")
    started = password_only_client.post("/password/forgot", json={"email": "test@example.com"})
    reset = {
        "resetId": started.json()["resetId"],
        "code": latest_code(password_only),
        "newPassword": FOURTEEN,
    }
    assert refused_for_length(password_only_client.post("/password/reset", json=reset), "newPassword")
    assert (
        password_only_client.post("/password/reset", json=reset | {"newPassword": FIFTEEN}).status_code == 204
    )


def test_an_existing_short_password_still_signs_in(
    password_only_client: TestClient, password_only: Container
) -> None:
    """The rule applies where a password is set: an account whose 14-character password was set while a
    second factor was required keeps signing in after the deployment turns that off."""
    hashed = password_only.passwords.hash(FOURTEEN)
    created = password_only.clock.now()
    password_only.storage.add_user(
        User(id="u-1", email="old@example.com", password_hash=hashed, created_at=created)
    )
    answer = password_only_client.post("/login", json={"email": "old@example.com", "password": FOURTEEN})
    assert answer.status_code == 200 and "accessToken" in answer.json()


def test_with_a_second_factor_eight_characters_still_do(client: TestClient) -> None:
    """The default deployment (a second factor required) keeps NIST's 8 for a password never used alone."""
    register(client, password=FOURTEEN[:8])


def refused_as_guessable(answer: Any, field: str = "password") -> bool:
    """Refused naming `field`, the request's own name for the new password."""
    problem = answer.json()
    return (answer.status_code, problem["code"], problem.get("field")) == (
        400,
        "weak_password",
        field,
    ) and "easy to guess" in problem["detail"]


def test_every_route_that_sets_a_password_refuses_context_words_repeats_and_runs(
    client: TestClient, container: Container
) -> None:
    """Before, sign-up, a password change and a reset took the account's email with a year after it, the
    service's name with punctuation round it, `abababababab` and `qwertyuiopas`: NIST SP 800-63B-4 asks
    context-specific words and such patterns refused. A passphrase that merely contains one is taken."""
    body = {"firstName": "Cem", "lastName": "Onan", "email": "cem.onan@example.com", "phoneNumber": PHONE}
    for weak in ("Cem.Onan2024", "!!twostep!!", "abababababab", "qwertyuiopas"):
        assert refused_as_guessable(client.post("/register", json=body | {"password": weak})), weak
    assert container.storage.find_user_by_email("cem.onan@example.com") is None
    assert client.post("/register", json=body | {"password": "cem onan likes tea"}).status_code == 201

    register(client)
    headers = {"Authorization": f"Bearer {sign_in(client, container)['accessToken']}"}
    for weak in ("test@example.com1", "Twostep-2024", "12121212", "zyxwvutsrq"):
        change = {"currentPassword": PASSWORD, "newPassword": weak}
        answer = client.post("/me/password", json=change, headers=headers)
        assert refused_as_guessable(answer, "newPassword"), weak
    started = client.post("/password/forgot", json={"email": "test@example.com"})
    reset = {"resetId": started.json()["resetId"], "code": latest_code(container)}
    for weak in ("TEST.2024!", "aaaaaaaaa123", "987654321098"):
        answer = client.post("/password/reset", json=reset | {"newPassword": weak})
        assert refused_as_guessable(answer, "newPassword"), weak
    assert (
        client.post("/password/reset", json=reset | {"newPassword": "test my twostep 1234"}).status_code
        == 204
    )


def test_a_password_set_in_full_width_signs_in_as_typed_on_an_ordinary_keyboard(
    client: TestClient, container: Container
) -> None:
    """Before, passwords were NFC-normalised only: one set as full-width letters (an East Asian input
    method's default) answered 401 when typed on an ordinary keyboard, and `password123` in full-width
    letters passed the common-password list. NIST SP 800-63B-4 asks NFKC or NFKD: both now read as the ASCII."""
    register(client, password=full_width("strange harbour light"))
    login = {"email": "test@example.com", "password": "strange harbour light"}
    assert client.post("/login", json=login).status_code == 200
    body = {"firstName": "Cem", "lastName": "Onan", "email": "other@example.com", "phoneNumber": PHONE}
    assert refused_as_guessable(client.post("/register", json=body | {"password": full_width("password123")}))


def test_an_account_whose_hash_was_made_before_nfkc_still_signs_in(
    password_only_client: TestClient, password_only: Container
) -> None:
    """A hash made of the NFC spelling of a full-width password (every hash before NFKC) keeps signing in
    with the password typed as then, and with no other password."""
    typed = full_width("strange harbour light")
    earlier = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID).hash(typed)
    created = password_only.clock.now()
    password_only.storage.add_user(
        User(id="u-2", email="early@example.com", password_hash=earlier, created_at=created)
    )

    def signs_in(password: str) -> int:
        body = {"email": "early@example.com", "password": password}
        return password_only_client.post("/login", json=body).status_code

    assert signs_in(typed[:-1]) == 401
    assert signs_in(typed) == 200
