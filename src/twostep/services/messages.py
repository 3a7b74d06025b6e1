"""The message board (as in the serverless message-board article): signed-in users post, anyone reads the newest first."""

from __future__ import annotations

import uuid
from dataclasses import replace

from twostep.domain.clock import Clock
from twostep.domain.display_text import has_hidden_characters, without_hidden_characters
from twostep.domain.errors import InvalidInput
from twostep.domain.models import Message, Page
from twostep.domain.ports import MessageStore, UserStore
from twostep.domain.tokens import AccessClaims

MAX_CONTENT = 500
MAX_PAGE = 100
POST_WHITESPACE = "\n\t"  # a post's own line breaks and indents


ANONYMOUS = "Member"


def display_name(first_name: str | None, last_name: str | None) -> str:
    """First name and last initial ("Ada L."); "Member" for an account without names."""
    # Names stored before hidden characters were refused at sign-up lose them here.
    first = without_hidden_characters(first_name or "").strip()
    last = without_hidden_characters(last_name or "").strip()
    if not first:
        return f"{last[:1]}." if last else ANONYMOUS
    return f"{first} {last[:1]}." if last else first


def shown_post(message: Message) -> Message:
    """A post as the board shows it. Posts written before display names stored the email: never show it;
    posts and names stored before hidden characters were refused are shown without them."""
    author = ANONYMOUS if "@" in message.author else without_hidden_characters(message.author)
    content = without_hidden_characters(message.content, allowed=POST_WHITESPACE)
    if (author, content) == (message.author, message.content):
        return message
    return replace(message, author=author, content=content)


class MessageService:
    def __init__(self, store: MessageStore, clock: Clock, users: UserStore | None = None) -> None:
        self._store = store
        self._clock = clock
        self._users = users

    def post(self, author: AccessClaims, content: str) -> Message:
        """Raises: InvalidInput."""
        text = content.strip()
        if not 1 <= len(text) <= MAX_CONTENT:
            raise InvalidInput(f"A message has 1 to {MAX_CONTENT} characters.", field="content")
        if has_hidden_characters(text, allowed=POST_WHITESPACE):
            raise InvalidInput("A message cannot contain control or invisible characters.", field="content")
        message = Message(
            id=str(uuid.uuid4()),
            user_id=author.sub,
            author=self._author_name(author.sub),
            content=text,
            created_at=self._clock.now(),
        )
        self._store.add_message(message)
        return message

    def recent(self, limit: int = 20, cursor: str | None = None) -> Page[Message]:
        """Raises: InvalidInput."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        page = self._store.list_messages(limit, cursor)
        return replace(page, items=[shown_post(message) for message in page.items])

    def _author_name(self, user_id: str) -> str:
        user = self._users.get_user(user_id) if self._users is not None else None
        return display_name(user.first_name, user.last_name) if user is not None else ANONYMOUS
