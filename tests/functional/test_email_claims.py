"""Taking back a squatted address (`POST /email-claims`, `/email-claims/verify`), through the API.

Before, anyone could sign up with another person's address and never prove it: the owner's sign-up then
answered 409 for good, and no reset code ever reached the address (recovery needs a proven one), so the
address was lost to its owner. Now the owner claims it with a code sent to it, and the account that never
proved it lets it go (a placeholder address, its sessions ended, its proven number told)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register, sign_in
from tests.functional.test_account_lifecycle import bearer, email_code, refreshes
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.errors import InvalidInput
from twostep.services.email_claims import PLACEHOLDER_DOMAIN

ADDRESS = "test@example.com"
OWNER_PHONE = "+905555555566"


def emails_to(container: Container, to: str) -> list[str]:
    return [e.body for e in container.storage.list_outbox(to=to, last=50) if e.provider == "email"]


def claim(client: TestClient, address: str = ADDRESS) -> dict[str, Any]:
    started = client.post("/email-claims", json={"email": address})
    assert started.status_code == 202, started.text
    return dict(started.json())


def prove_claim(client: TestClient, claim_id: str, code: str) -> Any:
    return client.post("/email-claims/verify", json={"claimId": claim_id, "code": code})


def test_the_owner_takes_back_a_squatted_address_and_signs_up(
    client: TestClient, container: Container
) -> None:
    squatter = register(client)  # the owner's address, never proven
    tokens = sign_in(client, container)  # proves the squatter's own number
    owner_sign_up = {"email": ADDRESS, "password": PASSWORD, "firstName": "A", "lastName": "B"}
    assert client.post("/register", json=owner_sign_up | {"phoneNumber": OWNER_PHONE}).status_code == 409
    started = claim(client)
    assert set(started) == {"claimId", "expiresAt"}
    assert prove_claim(client, started["claimId"], email_code(container, ADDRESS)).status_code == 204

    held = container.storage.get_user(squatter["id"])
    assert held is not None and held.email.endswith("@" + PLACEHOLDER_DOMAIN) and not held.email_verified
    assert not refreshes(client, tokens)  # its sessions ended
    notice = container.storage.list_outbox(to=PHONE, last=1)[-1].body
    # Its number's language (a +90 number: Turkish), and no address in it.
    assert notice == container.codes.letters.notice("email_released", "tr", destination="").body
    assert client.post("/login", json={"email": ADDRESS, "password": PASSWORD}).status_code == 401
    events = [e.event for e in container.audit.tail(user_id=squatter["id"])]
    assert "email_released" in events and {"session_ended", "sessions_ended"} & set(events), events
    assert "email_claimed" in [e.event for e in container.audit.tail()]

    owner = register(client, phone=OWNER_PHONE)  # the address is free now
    assert owner["email"] == ADDRESS and owner["id"] != squatter["id"]
    # The claim's code is used: it releases nothing more.
    assert prove_claim(client, started["claimId"], email_code(container, ADDRESS)).status_code == 410


def test_a_proven_address_is_never_claimed(client: TestClient, container: Container) -> None:
    register(client)
    tokens = sign_in(client, container)
    started = client.post("/me/email/verify/start", headers=bearer(tokens))
    proof = {"changeId": started.json()["changeId"], "code": email_code(container, ADDRESS)}
    assert client.post("/me/email/verify", json=proof, headers=bearer(tokens)).json()["emailVerified"]
    before = len(emails_to(container, ADDRESS))
    started_claim = claim(client)
    assert len(emails_to(container, ADDRESS)) == before  # nothing sent: the address is its account's
    wrong = prove_claim(client, started_claim["claimId"], "123456")
    assert wrong.status_code == 401 and wrong.json()["code"] == "wrong_code", wrong.text
    assert container.storage.find_user_by_email(ADDRESS) is not None
    assert refreshes(client, tokens)


def test_every_address_answers_alike(client: TestClient, container: Container) -> None:
    """Held unproven, proven, or by no account: the same status and shape, and the answer names no
    address, so a claim tells nobody whether an account exists."""
    register(client)
    register(client, email="proven@example.com", phone=OWNER_PHONE)
    tokens = sign_in(client, container, email="proven@example.com", phone=OWNER_PHONE)
    started = client.post("/me/email/verify/start", headers=bearer(tokens))
    proof = {"changeId": started.json()["changeId"], "code": email_code(container, "proven@example.com")}
    assert client.post("/me/email/verify", json=proof, headers=bearer(tokens)).status_code == 200
    answers = set()
    for address in (ADDRESS, "proven@example.com", "nobody@example.com"):
        answer = client.post("/email-claims", json={"email": address})
        assert "@" not in answer.text
        answers.add((answer.status_code, tuple(sorted(answer.json()))))
    assert answers == {(202, ("claimId", "expiresAt"))}
    assert len(emails_to(container, "nobody@example.com")) == 0
    # A wrong code, too: only an id nobody issued is 404 (the fuzz's ST302 is told so in its config).
    wrong = set()
    for address in (ADDRESS, "proven@example.com", "nobody@example.com"):
        answer = prove_claim(client, claim(client, address)["claimId"], "000000")
        wrong.add((answer.status_code, answer.json()["code"], answer.json()["attemptsRemaining"]))
    assert len(wrong) == 1 and wrong.pop()[0] == 401
    assert prove_claim(client, "Ms0zrqoVw", "000000").status_code == 404


def test_the_squatter_proving_first_keeps_the_address(client: TestClient, container: Container) -> None:
    """The account proves the address (it read a code there: it is the owner) before the claim's code
    comes back: the claim answers 409 and changes nothing."""
    squatter = register(client)
    tokens = sign_in(client, container)
    started_claim = claim(client)
    claim_code = email_code(container, ADDRESS)
    started = client.post("/me/email/verify/start", headers=bearer(tokens))
    proof = {"changeId": started.json()["changeId"], "code": email_code(container, ADDRESS)}
    assert client.post("/me/email/verify", json=proof, headers=bearer(tokens)).status_code == 200
    refused = prove_claim(client, started_claim["claimId"], claim_code)
    assert refused.status_code == 409 and refused.json()["code"] == "account_exists", refused.text
    held = container.storage.get_user(squatter["id"])
    assert held is not None and held.email == ADDRESS and held.email_verified
    assert refreshes(client, tokens)


def test_a_claim_is_capped_per_mailbox(make_container: Any) -> None:
    """A claim is no mail bomb: the per-mailbox caps of emailed codes hold (the answer stays the same)."""
    container = make_container(sms_per_number_10min=2)

    with TestClient(create_app(container)) as client:
        register(client)
        for _ in range(5):
            claim(client)
        assert len(emails_to(container, ADDRESS)) == 2
        events = [e for e in container.audit.tail(limit=200) if e.event == "code_delivery_failed"]
        assert len(events) == 3


def test_wrong_codes_spend_the_address_budget_not_the_sign_in(make_container: Any) -> None:
    """A stranger's wrong claim codes are counted per address (the reset budget), never against the
    account's sign-in: its owner still signs in, and the claim answers 429 once the budget is spent."""
    container = make_container(reset_code_failures_per_day=2, reset_code_failures_per_client_day=2)

    with TestClient(create_app(container)) as client:
        register(client)
        started = claim(client)
        code = email_code(container, ADDRESS)
        wrong = "000000" if code != "000000" else "111111"
        statuses = [prove_claim(client, started["claimId"], wrong).status_code for _ in range(3)]
        assert statuses[:2] == [401, 401] and statuses[2] == 429, statuses
        assert re.fullmatch(r"\d+", latest_sign_in_code(client, container))


def latest_sign_in_code(client: TestClient, container: Container) -> str:
    started = client.post("/login", json={"email": ADDRESS, "password": PASSWORD})
    assert started.status_code == 200, started.text
    return container.storage.list_outbox(to=PHONE, last=1)[-1].body.split()[0]


def test_no_code_is_mailed_to_a_placeholder(client: TestClient, container: Container) -> None:
    """A released account still signs in by passkey, and its session may ask to prove its address. Before,
    a code went to the placeholder (`.invalid`: a certain bounce, which the provider counts against the
    sender); now the request answers 400 and sends nothing."""
    squatter = register(client)
    started = claim(client)
    assert prove_claim(client, started["claimId"], email_code(container, ADDRESS)).status_code == 204
    held = container.storage.get_user(squatter["id"])
    assert held is not None and held.email.endswith("@" + PLACEHOLDER_DOMAIN)
    with pytest.raises(InvalidInput):
        container.changes.start_email_verify(squatter["id"])  # what /me/email/verify/start does
    assert emails_to(container, held.email) == []


def test_the_claimant_may_ask_for_the_next_code_to_the_address_at_once(
    make_container: Callable[..., Container],
) -> None:
    """Before, the claim's code started the address's resend cooldown (30 s by default), and the web UI
    sends the claimant straight on to change their email to the address (or sign up with it): that change's
    code was refused with 429 `email_cooldown`, so the flow failed on its first try. The right claim code
    now ends the address's cooldown (its reader is the one asking); its daily and 10-minute caps still hold."""
    container = make_container(resend_cooldown_seconds=30)
    wanted = "wanted@example.com"
    with TestClient(create_app(container)) as client:
        register(client, phone=OWNER_PHONE)  # the claimant's own account
        register(client, email=wanted)  # another account holds the address, never proven
        tokens = sign_in(client, container, phone=OWNER_PHONE)
        change = {"email": wanted, "currentPassword": PASSWORD}
        started = claim(client, wanted)
        assert prove_claim(client, started["claimId"], email_code(container, wanted)).status_code == 204
        sent = len(emails_to(container, wanted))
        answer = client.post("/me/email", json=change, headers=bearer(tokens))
        assert answer.status_code == 202, answer.text
        assert len(emails_to(container, wanted)) == sent + 1, "the change's code went to the address"
