"""A challenge's column values in the order both relational backends (SQLite, PostgreSQL) store them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from twostep.domain.models import Challenge

TimeValue = Callable[[datetime], object]


def challenge_values(c: Challenge, time_value: TimeValue) -> tuple[object, ...]:
    """The values of an INSERT naming the columns id, purpose, subject, phone, code_hmac, created_at,
    expires_at, max_attempts, attempts, consumed_at, sends, last_sent_at, code_length, email, channel;
    `time_value` turns each moment into what the backend stores (SQLite: UNIX seconds); a missing one stays NULL."""
    return (
        c.id,
        c.purpose,
        c.subject,
        c.phone,
        c.code_hmac,
        time_value(c.created_at),
        time_value(c.expires_at),
        c.max_attempts,
        c.attempts,
        None if c.consumed_at is None else time_value(c.consumed_at),
        c.sends,
        None if c.last_sent_at is None else time_value(c.last_sent_at),
        c.code_length,
        c.email,
        c.channel,
    )
