"""Opaque page cursors for the message board and an account's sessions, shared by every storage adapter."""

from __future__ import annotations

import math

from twostep.domain.errors import InvalidInput
from twostep.domain.models import Message, Page, Session


def message_cursor(message: Message) -> str:
    return f"{message.created_at.timestamp()!r}~{message.id}"


def session_cursor(session: Session) -> str:
    """The same shape as a message's: the session's start and its id, newest first."""
    return f"{session.created_at.timestamp()!r}~{session.id}"


def page_of_sessions(newest_first: list[Session], limit: int, cursor: str | None) -> Page[Session]:
    """The page of `limit` after `cursor` from every live session in hand, newest first (memory, DynamoDB)."""
    if cursor:
        created, session_id = parse_message_cursor(cursor)
        newest_first = [s for s in newest_first if (s.created_at.timestamp(), s.id) < (created, session_id)]
    items = newest_first[:limit]
    return Page(items, session_cursor(items[-1]) if len(newest_first) > limit else None)


# Past any start a page's item has (the year 2286): PostgreSQL's timestamps and DynamoDB's fixed-width
# keys hold the instants below it, so a cursor's number must be one.
LATEST_START = 1e10


def parse_message_cursor(cursor: str) -> tuple[float, str]:
    """The start (epoch seconds) and id a page's cursor was made of.

    Raises: InvalidInput: no page gave it, nor its number (`inf`, `nan`, `1e300` or a negative one made
    PostgreSQL fail with 500, and paged differently on each storage).
    """
    created, sep, message_id = cursor.partition("~")
    try:
        if not sep or not message_id or len(cursor) > 100:
            raise ValueError(cursor)
        start = float(created)
        if not (math.isfinite(start) and 0 <= start < LATEST_START):
            raise ValueError(cursor)
        return start, message_id
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.", field="cursor") from exc
