"""Flowroute compatibility mode (`TWOSTEP_VERIFY_COMPAT=flowroute`) answering as Flowroute's sms-verification
did where its Flask handler was lenient: it read `auth_id` and `recipient` from the create body and ignored
the rest, and looked a check's `auth_id` up as given, finding none for an empty one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import latest_code
from twostep.api.verification_app import create_verification_app
from twostep.container import Container
from twostep.domain.clock import FixedClock

PHONE = "+14155552671"
RECIPIENT = "14155552671"
UNKNOWN = {"message": "Unknown auth id", "reason": "UnknownAuthId", "attempts_left": 0}
CHECK_USAGE = "Required arguments: 'auth_id' (str), 'code' (int)"


@pytest.fixture
def compat(make_container: Callable[..., Container]) -> Iterator[tuple[TestClient, Container]]:
    container = make_container(verify_compat="flowroute")
    with TestClient(create_verification_app(container)) as client:
        yield client, container


def test_an_unknown_key_in_the_create_body_is_ignored(compat: tuple[TestClient, Container]) -> None:
    """Before, `{"auth_id", "recipient", "session": …}` answered 400 with twostep's `Extra inputs are not
    permitted`, though Flowroute's service created and texted the code; now it does too."""
    client, container = compat
    body: dict[str, Any] = {"auth_id": "order-1", "recipient": RECIPIENT, "session": "abc", "colour": 1}

    created = client.post("/", json=body)

    assert created.status_code == 200, created.text
    assert created.json() == {"message": "Success: Verification code created.", "auth_id": "order-1"}
    code = latest_code(container, PHONE)
    assert client.get("/", params={"auth_id": "order-1", "code": code}).json()["authenticated"] is True


def test_twostep_s_own_keys_still_count_when_the_rest_is_ignored(
    compat: tuple[TestClient, Container],
) -> None:
    client, container = compat
    created = client.post("/", json={"auth_id": "o", "recipient": RECIPIENT, "code_length": 8, "x": None})
    assert created.status_code == 200, created.text
    assert len(latest_code(container, PHONE)) == 8
    bad = client.post("/", json={"auth_id": "o", "recipient": RECIPIENT, "code_length": 99, "x": None})
    assert bad.status_code == 400 and bad.json()["reason"] == "InvalidAPIUsage"


@pytest.mark.parametrize("auth_id", ["", "x" * 121, "a\x01b"])
def test_a_check_of_an_id_no_code_can_have_is_an_unknown_id(
    compat: tuple[TestClient, Container], auth_id: str
) -> None:
    """Before, an empty `auth_id` (or one too long to create) answered the usage message `InvalidAPIUsage`;
    Flowroute's service looked it up, found nothing and answered `Unknown auth id`; now so does twostep."""
    client, _ = compat
    answer = client.get("/", params={"auth_id": auth_id, "code": "1234"})
    assert answer.status_code == 400
    assert answer.json() == UNKNOWN


def test_a_bad_code_or_a_repeated_id_stays_a_usage_error(compat: tuple[TestClient, Container]) -> None:
    """Flowroute's service read the code before the lookup; a repeated `auth_id` is twostep's own refusal."""
    client, _ = compat
    for query in ("auth_id=&code=12a4", "auth_id=&code=", "auth_id=a&auth_id=&code=1234", "auth_id="):
        answer = client.get(f"/?{query}")
        assert answer.status_code == 400 and answer.json()["reason"] == "InvalidAPIUsage", query
    assert client.get("/?auth_id=&code=12a4").json()["message"] == CHECK_USAGE


def test_an_expired_code_answers_expired_at_every_check(
    compat: tuple[TestClient, Container], clock: FixedClock
) -> None:
    """twostep keeps its own answer here (documented in the guide and the mode's module): Flowroute's
    service deleted an expired code at its first check, so a second got `Unknown auth id`."""
    client, container = compat
    assert (
        client.post("/", json={"auth_id": "late", "recipient": RECIPIENT, "expiration": 30}).status_code
        == 200
    )
    code = latest_code(container, PHONE)
    clock.advance(31)
    for _ in range(2):
        answer = client.get("/", params={"auth_id": "late", "code": code})
        assert answer.json() == {"message": "Expired code", "reason": "ExpiredAuthCode", "attempts_left": 0}


def guide_rows() -> list[str]:
    guide = (Path(__file__).parents[2] / "docs/guides/migrate-flowroute.md").read_text()
    return [line for line in guide.splitlines() if line.startswith(("| ", "- "))]


def test_the_guide_says_what_mode_ignores_unknown_keys_and_impossible_ids_are_unknown() -> None:
    """The guide's table promised the usage message for any bad create body, though an unknown key got
    twostep's own message; it now says such a key is ignored in Flowroute mode (what the tests above show)."""
    rows = guide_rows()
    key_row = next(row for row in rows if row.startswith("| a key in the create body"))
    assert "ignored" in key_row.split("|")[3] and "400" in key_row.split("|")[2]
    unknown_row = next(row for row in rows if row.startswith("| unknown `auth_id`"))
    assert "empty" in unknown_row and "Unknown auth id" in unknown_row


def test_the_guide_lists_the_expired_answer_twostep_keeps() -> None:
    """A second check of an expired code answers `Expired code` where Flowroute's answered `Unknown auth
    id`; the guide's table and list of differences did not say so."""
    rows = guide_rows()
    expired_row = next(row for row in rows if row.startswith("| expired code"))
    assert "at every check" in expired_row and "Unknown auth id" in expired_row
    assert any(
        row.startswith("- An expired code answers expired") and "Flowroute mode" in row for row in rows
    )
