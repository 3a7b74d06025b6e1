"""The message board (as in the serverless message-board article): signed-in users post, anyone reads the newest first."""

from __future__ import annotations

import uuid
from dataclasses import replace

from twostep.domain.clock import Clock
from twostep.domain.errors import InvalidInput
from twostep.domain.models import Message, Page
from twostep.domain.ports import MessageStore, UserStore
from twostep.domain.tokens import AccessClaims

MAX_CONTENT = 500
MAX_PAGE = 100


ANONYMOUS = "Member"


def display_name(first_name: str | None, last_name: str | None) -> str:
    """First name and last initial ("Ada L."); "Member" for an account without names."""
    first = (first_name or "").strip()
    last = (last_name or "").strip()
    if not first:
        return f"{last[:1]}." if last else ANONYMOUS
    return f"{first} {last[:1]}." if last else first


def shown_author(message: Message) -> Message:
    """Posts written before display names stored the email: never show it."""
    if "@" not in message.author:
        return message
    return replace(message, author=ANONYMOUS)


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
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
            raise InvalidInput("A message cannot contain control characters.", field="content")
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
        return replace(page, items=[shown_author(message) for message in page.items])

    def _author_name(self, user_id: str) -> str:
        user = self._users.get_user(user_id) if self._users is not None else None
        return display_name(user.first_name, user.last_name) if user is not None else ANONYMOUS
