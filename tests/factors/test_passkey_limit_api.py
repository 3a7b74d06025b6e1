"""TWOSTEP_PASSKEY_LIMIT through the API: an account with the limit reached is refused another passkey
with 409 passkey_limit_reached (a sentence naming the limit, and `limit`), at the registration options
before the authenticator is asked, and again when a registration whose options came first finishes;
its passkeys stay, a removed one makes room. Before, an account registered passkeys without bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import register, settings_for_tests, sign_in
from tests.factors.soft_authenticator import SoftAuthenticator
from tests.factors.test_passkeys_api import ORIGIN, REAUTH, add_passkey, bearer
from twostep.container import build
from twostep.domain.clock import FixedClock
from twostep.storage.memory import MemoryStorage

FULL = "An account may have at most {limit} {noun}, and this one has no room for another: remove one or more first."


def refused_as_full(answer: Any) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == "passkey_limit_reached" and body["limit"] == 2
    assert body["detail"] == FULL.format(limit=2, noun="passkeys")


def test_a_passkey_past_the_limit_is_refused_at_the_options(make_container: Any) -> None:
    from twostep.api.app import create_app

    container = make_container(passkey_limit=2)
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        for _ in range(2):
            assert add_passkey(client, pair, SoftAuthenticator(ORIGIN)).status_code == 201
        refused_as_full(client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair)))
        listed = client.get("/me/passkeys", headers=bearer(pair)).json()
        assert len(listed) == 2, "none was dropped"
        removed = client.post(f"/me/passkeys/{listed[0]['id']}/remove", json=REAUTH, headers=bearer(pair))
        assert removed.status_code == 204, removed.text
        assert add_passkey(client, pair, SoftAuthenticator(ORIGIN)).status_code == 201, "room again"


def test_a_registration_finishing_past_the_limit_is_refused(make_container: Any) -> None:
    """Two registrations begun (options asked) while the account had room: the second to finish finds the
    limit reached and is refused; nothing of it is stored."""
    from twostep.api.app import create_app

    container = make_container(passkey_limit=2)
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        assert add_passkey(client, pair, SoftAuthenticator(ORIGIN)).status_code == 201
        begun = [
            client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair)).json() for _ in range(2)
        ]
        answers = [
            client.post(
                "/me/passkeys",
                json={
                    "ceremonyId": options["ceremonyId"],
                    "credential": SoftAuthenticator(ORIGIN).create(options["publicKey"]),
                    "name": "Key",
                },
                headers=bearer(pair),
            )
            for options in begun
        ]
        assert answers[0].status_code == 201, answers[0].text
        refused_as_full(answers[1])
        assert len(client.get("/me/passkeys", headers=bearer(pair)).json()) == 2


def test_the_limit_is_twenty_unless_set() -> None:
    from twostep.settings import Settings

    assert Settings(_env_file=None).passkey_limit == 20  # type: ignore[call-arg]


def test_the_factors_say_the_limit(make_container: Any) -> None:
    """`GET /me/factors` did not say how many passkeys an account may hold, so a page could not tell a
    full account before it began a registration that would be refused."""
    from twostep.api.app import create_app

    container = make_container(passkey_limit=3)
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        factors = client.get("/me/factors", headers=bearer(pair)).json()
        assert factors["passkeyLimit"] == 3 and factors["passkeys"] == []


def test_the_refusal_tells_no_false_count_when_the_limit_was_lowered(
    tmp_path: Path, clock: FixedClock
) -> None:
    """Before, the refusal said "This account has 1 passkeys, the most it may have" to an account holding
    three after TWOSTEP_PASSKEY_LIMIT was lowered to 1 (the limit read as its count, in the plural), and the
    security page showed that sentence when another device had filled the account. It now names the limit
    only, and in the singular for one."""
    from twostep.api.app import create_app

    storage = MemoryStorage()
    before = build(settings_for_tests(tmp_path, passkey_limit=3), clock=clock, storage=storage)
    with TestClient(create_app(before)) as client:
        register(client)
        pair = sign_in(client, before)
        for _ in range(3):
            assert add_passkey(client, pair, SoftAuthenticator(ORIGIN)).status_code == 201
    lowered = build(settings_for_tests(tmp_path, passkey_limit=1), clock=clock, storage=storage)
    with TestClient(create_app(lowered)) as client:
        refused = client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair))
        assert refused.status_code == 409 and refused.json()["limit"] == 1, refused.text
        assert refused.json()["detail"] == FULL.format(limit=1, noun="passkey")
