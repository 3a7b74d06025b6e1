"""A refused passkey registration is in the audit trail, on every storage the trail is kept in: before, the
limit (at the options or at the finish), a replayed ceremony and a forged answer were refused with nothing
recorded, so an account's trail did not show that someone tried to add a way into it and failed. Each is
now `passkey_registration_failed` with the refusal's code as `reason` and the `step` that refused it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import register, settings_for_tests, sign_in
from tests.contract.conftest import BACKENDS
from tests.factors.soft_authenticator import SoftAuthenticator
from tests.factors.test_passkeys_api import ORIGIN, REAUTH, add_passkey, bearer
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.services.passkeys import GONE_AUDITS_PER_HOUR

EVENT = "passkey_registration_failed"


@pytest.fixture(params=sorted(BACKENDS))
def make_stored(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[Callable[..., Container]]:
    """A container over each storage of the conformance suite (the audit trail lives in it)."""
    built: list[Container] = []

    def factory(**overrides: Any) -> Container:
        storage = BACKENDS[request.param](tmp_path, request)
        storage.init_schema()
        container = build(settings_for_tests(tmp_path, **overrides), clock=clock, storage=storage)
        built.append(container)
        return container

    yield factory
    for container in built:
        container.close()


def refusals(container: Container) -> list[dict[str, str]]:
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None
    events = container.storage.list_audit(user.id, limit=100)
    return [dict(e.detail) for e in events if e.event == EVENT]


def finish(client: TestClient, pair: dict[str, Any], options: dict[str, Any], credential: Any) -> Any:
    body = {"ceremonyId": options["ceremonyId"], "credential": credential, "name": "Key"}
    return client.post("/me/passkeys", json=body, headers=bearer(pair))


def test_a_registration_refused_at_the_limit_is_audited(make_stored: Callable[..., Container]) -> None:
    from twostep.api.app import create_app

    container = make_stored(passkey_limit=1)
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        begun = [
            client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair)).json() for _ in range(2)
        ]
        assert refusals(container) == [], "options given are no refusal"
        first = finish(client, pair, begun[0], SoftAuthenticator(ORIGIN).create(begun[0]["publicKey"]))
        assert first.status_code == 201, first.text
        late = finish(client, pair, begun[1], SoftAuthenticator(ORIGIN).create(begun[1]["publicKey"]))
        assert late.status_code == 409 and late.json()["code"] == "passkey_limit_reached"
        full = client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair))
        assert full.status_code == 409 and full.json()["code"] == "passkey_limit_reached"
        # events of one instant: compared without their order (the fixed clock does not move)
        steps = sorted((r["reason"], r["step"]) for r in refusals(container))
        assert steps == [("passkey_limit_reached", "finish"), ("passkey_limit_reached", "options")]


def test_a_replayed_or_forged_registration_is_audited(make_stored: Callable[..., Container]) -> None:
    from twostep.api.app import create_app

    container = make_stored()
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        assert add_passkey(client, pair, SoftAuthenticator(ORIGIN)).status_code == 201
        options = client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair)).json()
        forged = SoftAuthenticator("https://evil.example").create(options["publicKey"])
        rejected = finish(client, pair, options, forged)
        assert rejected.status_code == 401 and rejected.json()["code"] == "passkey_rejected"
        replayed = finish(client, pair, options, SoftAuthenticator(ORIGIN).create(options["publicKey"]))
        assert replayed.status_code == 410 and replayed.json()["code"] == "passkey_challenge_gone"
        reasons = sorted(r["reason"] for r in refusals(container))
        assert reasons == ["passkey_challenge_gone", "passkey_rejected"]
        assert {r["step"] for r in refusals(container)} == {"finish"}
        assert len(client.get("/me/passkeys", headers=bearer(pair)).json()) == 1, "nothing stored"


def test_finishes_with_made_up_ceremonies_cannot_flood_the_trail(
    make_stored: Callable[..., Container],
) -> None:
    """Before, every `POST /me/passkeys` naming a ceremony the account does not have wrote one
    `passkey_registration_failed` record: it needs neither the password nor a live ceremony, so a token
    alone could write audit records without end (300 requests, 300 records, never a 429). Now an account's
    trail keeps `GONE_AUDITS_PER_HOUR` of them an hour, on every storage; the answer stays the same 410."""
    from twostep.api.app import create_app

    container = make_stored()
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        made_up = {"ceremonyId": "", "credential": {"id": "x"}, "name": "Key"}
        for n in range(GONE_AUDITS_PER_HOUR * 3):
            body = made_up | {"ceremonyId": f"00000000-0000-4000-8000-{n:012d}"}
            answer = client.post("/me/passkeys", json=body, headers=bearer(pair))
            assert answer.status_code == 410 and answer.json()["code"] == "passkey_challenge_gone"
        reasons = [r["reason"] for r in refusals(container)]
        assert reasons == ["passkey_challenge_gone"] * GONE_AUDITS_PER_HOUR
        # a refusal that spent a live ceremony (behind the password) is still recorded past the bound
        options = client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair)).json()
        forged = SoftAuthenticator("https://evil.example").create(options["publicKey"])
        assert finish(client, pair, options, forged).status_code == 401
        assert sorted({r["reason"] for r in refusals(container)}) == [
            "passkey_challenge_gone",
            "passkey_rejected",
        ]


def test_concurrent_made_up_finishes_keep_the_bound(make_stored: Callable[..., Container]) -> None:
    """Two floods at once: the bound is an atomic counter, so together they still leave
    `GONE_AUDITS_PER_HOUR` records, never one more per racing request."""
    from twostep.api.app import create_app
    from twostep.domain.factor_errors import CeremonyExpired
    from twostep.services.passkeys import RelyingParty

    container = make_stored()
    with TestClient(create_app(container)) as client:
        register(client)
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None
    rp = RelyingParty("testserver", "twostep", (ORIGIN,))
    barrier = threading.Barrier(2)
    answers: list[str] = []

    def flood(side: int) -> None:
        barrier.wait()
        for n in range(GONE_AUDITS_PER_HOUR):
            try:
                container.factors.passkeys.register(user.id, f"made-up-{side}-{n}", {"id": "x"}, "Key", rp)
            except CeremonyExpired as gone:
                answers.append(gone.code)

    threads = [threading.Thread(target=flood, args=(side,)) for side in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["passkey_challenge_gone"] * (2 * GONE_AUDITS_PER_HOUR)
    assert len(refusals(container)) == GONE_AUDITS_PER_HOUR
