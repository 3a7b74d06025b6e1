"""The message board is public: posts show a display name ("Ada L."), never an email address."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register, sign_in
from twostep.container import Container
from twostep.domain.models import Message
from twostep.services.messages import display_name


def test_posts_show_first_name_and_last_initial(client: TestClient, container: Container) -> None:
    register(client, email="ada@example.com", firstName="Ada", lastName="Lovelace")
    auth = {"Authorization": f"Bearer {sign_in(client, container, email='ada@example.com')['accessToken']}"}
    posted = client.post("/messages", json={"content": "hello"}, headers=auth).json()
    assert posted["author"] == "Ada L."
    listed = client.get("/messages")
    assert listed.json()["messages"][0]["author"] == "Ada L."
    assert "@" not in listed.text and "example.com" not in listed.text


def test_posts_stored_with_an_email_before_are_not_shown_with_it(
    client: TestClient, container: Container
) -> None:
    old = Message(
        id="m-old", user_id="u1", author="old@example.com", content="hi", created_at=container.clock.now()
    )
    container.storage.add_message(old)
    listed = client.get("/messages")
    assert listed.json()["messages"][0]["author"] == "Member"
    assert "old@example.com" not in listed.text


def test_display_names() -> None:
    assert display_name("Ada", "Lovelace") == "Ada L."
    assert display_name(" Ada ", None) == "Ada"
    assert display_name(None, "Lovelace") == "L."
    assert display_name(None, None) == "Member"


# Characters that draw nothing, reorder what follows or break the line: a right-to-left override in a
# name turned the rest of its public post around. Before, only characters below 32 were refused, so
# these were all stored and shown (while the error promised "printable characters").
HIDDEN = {
    "delete": "\x7f",
    "c1-control": "\x85",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
    "right-to-left-override": "\u202e",
    "right-to-left-isolate": "\u2067",
    "zero-width-space": "\u200b",
    "private-use": "\ue000",
}


@pytest.mark.parametrize("field", ["firstName", "lastName"])
@pytest.mark.parametrize("hidden", HIDDEN.values(), ids=HIDDEN.keys())
def test_names_with_hidden_characters_are_refused(client: TestClient, field: str, hidden: str) -> None:
    body = {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com", "password": PASSWORD}
    response = client.post("/register", json=body | {"phoneNumber": PHONE, field: f"Ada{hidden}evoL"})
    assert response.status_code == 400, response.text
    assert (response.json()["code"], response.json()["field"]) == ("invalid_input", field)


@pytest.mark.parametrize("hidden", HIDDEN.values(), ids=HIDDEN.keys())
def test_posts_with_hidden_characters_are_refused(
    client: TestClient, container: Container, hidden: str
) -> None:
    register(client, email="ada@example.com")
    auth = {"Authorization": f"Bearer {sign_in(client, container, email='ada@example.com')['accessToken']}"}
    response = client.post("/messages", json={"content": f"pay{hidden}lapyap"}, headers=auth)
    assert response.status_code == 400, response.text
    assert (response.json()["code"], response.json()["field"]) == ("invalid_input", "content")
    assert client.get("/messages").json()["messages"] == []


def test_names_and_posts_in_scripts_written_with_joiners_are_kept(
    client: TestClient, container: Container
) -> None:
    """The zero-width non-joiner and joiner are part of written Persian and Indic names (and emoji)."""
    register(client, email="ada@example.com", firstName="\u0645\u06cc\u200c\u0646\u0627", lastName="Kaur")
    auth = {"Authorization": f"Bearer {sign_in(client, container, email='ada@example.com')['accessToken']}"}
    post = "line one\n\tand \u0915\u094d\u200d\u0937 \U0001f469\u200d\U0001f4bb"
    posted = client.post("/messages", json={"content": post}, headers=auth)
    assert posted.status_code == 201, posted.text
    assert posted.json()["author"] == "\u0645\u06cc\u200c\u0646\u0627 K."


def test_posts_and_names_stored_before_are_shown_without_hidden_characters(
    client: TestClient, container: Container
) -> None:
    """Posts and names stored before they were refused kept their overrides on the public board."""
    old = Message(
        id="m-old",
        user_id="u1",
        author="Ada\u202e L.",
        content="pay\u202elapyap\nsecond\tline\u2028",
        created_at=container.clock.now(),
    )
    container.storage.add_message(old)
    (shown,) = client.get("/messages").json()["messages"]
    assert (shown["author"], shown["content"]) == ("Ada L.", "paylapyap\nsecond\tline")
    assert display_name("Ada\u202e\x7f", "\u2067Lovelace") == "Ada L."
