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

PHONE = "+14155552671"
RECIPIENT = "14155552671"


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


def guide_rows() -> list[str]:
    guide = (Path(__file__).parents[2] / "docs/guides/migrate-flowroute.md").read_text()
    return [line for line in guide.splitlines() if line.startswith(("| ", "- "))]


def test_the_guide_says_flowroute_mode_ignores_unknown_keys() -> None:
    """The guide's table promised the usage message for any bad create body, though an unknown key got
    twostep's own message; it now says such a key is ignored in Flowroute mode (what the tests above show)."""
    rows = guide_rows()
    key_row = next(row for row in rows if row.startswith("| a key in the create body"))
    assert "ignored" in key_row.split("|")[3] and "400" in key_row.split("|")[2]
