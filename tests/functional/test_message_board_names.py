"""The message board is public: posts show a display name ("Ada L."), never an email address."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import register, sign_in
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
