"""Messages and the console sender's outbox in memory; every method holds the storage's one lock."""

from __future__ import annotations

import threading
from dataclasses import replace

from twostep.domain.models import Message, OutboxEntry, Page
from twostep.storage.cursors import message_cursor, parse_message_cursor


class MemoryMessages:
    _lock: threading.RLock

    def _init_messages(self) -> None:
        self._messages: list[Message] = []
        self._outbox: list[OutboxEntry] = []

    # --- messages ---
    def add_message(self, message: Message) -> None:
        with self._lock:
            self._messages.append(message)

    def anonymise_messages(self, user_id: str, author: str, pseudonym: str) -> int:
        with self._lock:
            mine = [i for i, m in enumerate(self._messages) if m.user_id == user_id]
            for index in mine:
                self._messages[index] = replace(self._messages[index], user_id=pseudonym, author=author)
            return len(mine)

    def list_messages(self, limit: int, cursor: str | None = None) -> Page[Message]:
        with self._lock:
            ordered = sorted(self._messages, key=lambda m: (m.created_at.timestamp(), m.id), reverse=True)
        if cursor:
            created, message_id = parse_message_cursor(cursor)
            ordered = [m for m in ordered if (m.created_at.timestamp(), m.id) < (created, message_id)]
        page = ordered[:limit]
        return Page(page, message_cursor(page[-1]) if len(ordered) > limit else None)

    # --- outbox ---
    def add_outbox(self, entry: OutboxEntry) -> None:
        with self._lock:
            self._outbox.append(entry)

    def list_outbox(
        self, to: str | None = None, last: int = 20, channel: str | None = None
    ) -> list[OutboxEntry]:
        with self._lock:
            matching = [
                e
                for e in self._outbox
                if (to is None or e.to == to) and (channel is None or e.channel == channel)
            ]
        return matching[-last:] if last > 0 else []
