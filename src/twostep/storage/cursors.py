"""Opaque page cursors for the message board, shared by every storage adapter."""

from __future__ import annotations

from twostep.domain.errors import InvalidInput
from twostep.domain.models import Message


def message_cursor(message: Message) -> str:
    return f"{message.created_at.timestamp()!r}~{message.id}"


def parse_message_cursor(cursor: str) -> tuple[float, str]:
    """Raises: InvalidInput."""
    created, sep, message_id = cursor.partition("~")
    try:
        if not sep or not message_id or len(cursor) > 100:
            raise ValueError(cursor)
        return float(created), message_id
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.", field="cursor") from exc
