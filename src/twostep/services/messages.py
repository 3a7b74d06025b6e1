"""The message board (as in the serverless message-board article): signed-in users post, anyone reads the newest first."""

from __future__ import annotations

import uuid

from twostep.domain.clock import Clock
from twostep.domain.errors import InvalidInput
from twostep.domain.models import Message, Page
from twostep.domain.ports import MessageStore
from twostep.domain.tokens import AccessClaims

MAX_CONTENT = 500
MAX_PAGE = 100


class MessageService:
    def __init__(self, store: MessageStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

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
            author=author.email,
            content=text,
            created_at=self._clock.now(),
        )
        self._store.add_message(message)
        return message

    def recent(self, limit: int = 20, cursor: str | None = None) -> Page[Message]:
        """Raises: InvalidInput."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        return self._store.list_messages(limit, cursor)
