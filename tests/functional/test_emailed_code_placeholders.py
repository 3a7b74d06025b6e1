"""A claim's or a password reset's code, emailed after the answer, answers a wrong code alike for every
address while its email is on its way, and after the email failed.

Before, the emailed code was stored unusable over the placeholder before the email went out (and stayed so
when it failed): a code typed meanwhile answered 410 `code_expired` for an address an account holds (a
claim: unproven; a reset: proven) and 401 `wrong_code` for any other, whose placeholder stays. Any SMTP or
SES call takes long enough for a script to ask (`/work/notes/s26/G/claim_oracle_live.py` showed it against
`twostep serve`), so `/email-claims` and `/password/forgot` told who has an account."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PHONE, register, settings_for_tests
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import EmailDeliveryError, TwoStepError
from twostep.domain.identity import E164
from twostep.storage.memory import MemoryStorage

HELD, FREE = "test@example.com", "nobody@example.com"
NEW_PASSWORD = "another horse battery staple"


class Mail:
    """An email provider that runs `during` while it sends (the email on its way), then fails or not."""

    def __init__(self) -> None:
        self.during: Callable[[], None] = lambda: None
        self.fails = False
        self.sent: list[str] = []

    def send(self, to: str, subject: str, body: str) -> None:
        self.during()
        if self.fails:
            raise EmailDeliveryError("smtp_failed")
        self.sent.append(to)


@pytest.fixture
def mail() -> Mail:
    return Mail()


@pytest.fixture
def served(tmp_path: Path, mail: Mail) -> Iterator[tuple[TestClient, Container]]:
    container = build(
        settings_for_tests(tmp_path), clock=FixedClock(), storage=MemoryStorage(), email_sender=mail
    )
    with TestClient(create_app(container)) as client:
        yield client, container
    container.close()


def answer_to_a_wrong_code(container: Container, flow: str, started_id: str) -> str:
    """The error code a wrong code gets (the service's, as the route maps it)."""
    try:
        if flow == "claim":
            container.claims.confirm(started_id, "000000")
        else:
            container.recovery.reset(started_id, "000000", NEW_PASSWORD)
    except TwoStepError as exc:
        return exc.code
    raise AssertionError("a wrong code was taken")


def start(client: TestClient, flow: str, address: str) -> str:
    if flow == "claim":
        return str(client.post("/email-claims", json={"email": address}).json()["claimId"])
    started = client.post("/password/forgot", json={"email": address, "channel": "email"})
    return str(started.json()["resetId"])


def held_address(client: TestClient, container: Container, flow: str) -> None:
    """An account holds HELD: unproven for a claim, proven for a reset by email."""
    user = register(client, email=HELD)
    if flow == "reset":
        account = container.storage.get_user(user["id"])
        assert account is not None and container.storage.prove_email(account, HELD)


def record_started(container: Container, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the claims and resets begun, known as each begins (before its email goes)."""
    ids: list[str] = []
    claim, forgot = container.claims.start, container.recovery.forgot

    def claim_started(*args: Any, **kwargs: Any) -> Any:
        started = claim(*args, **kwargs)
        ids.append(started.claim_id)
        return started

    def reset_started(*args: Any, **kwargs: Any) -> Any:
        started = forgot(*args, **kwargs)
        ids.append(started.reset_id)
        return started

    monkeypatch.setattr(container.claims, "start", claim_started)
    monkeypatch.setattr(container.recovery, "forgot", reset_started)
    return ids


@pytest.mark.parametrize("flow", ["claim", "reset"])
def test_a_wrong_code_answers_alike_while_the_email_is_on_its_way(
    served: tuple[TestClient, Container], mail: Mail, flow: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, container = served
    held_address(client, container, flow)
    started = record_started(container, monkeypatch)
    answers: dict[str, str] = {}
    mail.during = lambda: answers.setdefault(HELD, answer_to_a_wrong_code(container, flow, started[-1]))
    start(client, flow, HELD)
    start(client, flow, FREE)  # nothing is sent to a free address: asked after the answer, as a caller
    answers[FREE] = answer_to_a_wrong_code(container, flow, started[-1])
    assert mail.sent == [HELD], mail.sent
    assert answers == {HELD: "wrong_code", FREE: "wrong_code"}, answers


@pytest.mark.parametrize("flow", ["claim", "reset"])
def test_a_wrong_code_answers_alike_after_the_email_failed(
    served: tuple[TestClient, Container], mail: Mail, flow: str
) -> None:
    client, container = served
    held_address(client, container, flow)
    mail.fails = True
    answers: dict[str, Any] = {}
    for address in (HELD, FREE):
        started_id = start(client, flow, address)
        verify = (
            client.post("/email-claims/verify", json={"claimId": started_id, "code": "000000"})
            if flow == "claim"
            else client.post(
                "/password/reset", json={"resetId": started_id, "code": "000000", "newPassword": NEW_PASSWORD}
            )
        )
        answers[address] = (verify.status_code, verify.json()["code"])
    assert answers == {HELD: (401, "wrong_code"), FREE: (401, "wrong_code")}, answers


@pytest.mark.parametrize("flow", ["claim", "reset", "reset by text"])
def test_the_code_ends_when_the_answer_said_for_every_address(
    served: tuple[TestClient, Container], flow: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code stored after the answer took its lifetime from when it was made, a moment after the
    placeholder whose end the answer gave: a wrong code typed just after that end answered 401
    `wrong_code` for an address an account holds and 410 `code_expired` for any other. The code now ends
    with its placeholder."""
    client, container = served
    if flow == "reset by text":
        account = container.storage.get_user(register(client, email=HELD)["id"])
        assert account is not None and container.storage.prove_phone(account, E164(PHONE))
    else:
        held_address(client, container, flow)
    clock = container.clock
    assert isinstance(clock, FixedClock)
    service = container.claims if flow == "claim" else container.recovery
    name = "start" if flow == "claim" else "forgot"
    begin = getattr(service, name)

    def answered_then_sent_later(*args: Any, **kwargs: Any) -> Any:
        started = begin(*args, **kwargs)
        clock.advance(1)  # the answer goes first; the code is made and sent after it
        return started

    monkeypatch.setattr(service, name, answered_then_sent_later)
    answers: dict[str, str] = {}
    for address in (HELD, FREE):
        if flow == "claim":
            started = client.post("/email-claims", json={"email": address}).json()
            started_id = started["claimId"]
        else:
            channel = "sms" if flow == "reset by text" else "email"
            started = client.post("/password/forgot", json={"email": address, "channel": channel}).json()
            started_id = started["resetId"]
        clock.set(datetime.fromisoformat(started["expiresAt"]))  # the end the answer gave
        answers[address] = answer_to_a_wrong_code(container, flow, started_id)
    assert answers == {HELD: "code_expired", FREE: "code_expired"}, answers
