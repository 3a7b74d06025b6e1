"""A challenge's column values in the order both relational backends (SQLite, PostgreSQL) store them, the
write of a right code's use (`CodeUse`), and the erasure of an account's codes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from twostep.domain.models import Challenge, CodeUse

TimeValue = Callable[[datetime], object]

# Run by `delete_user` in its transaction, with the user id (SQLite turns `%s` into `?`): the account's
# codes go with it, and the number or address each holds (by the `challenges_subject` index, step 19). A
# verification's subject is the caller's auth id, never an account: those stay.
ERASE_CHALLENGES_OF_USER = "DELETE FROM challenges WHERE subject = %s AND purpose <> 'verify'"


def challenge_values(c: Challenge, time_value: TimeValue) -> tuple[object, ...]:
    """The values of an INSERT naming the columns id, purpose, subject, phone, code_hmac, created_at,
    expires_at, max_attempts, attempts, consumed_at, sends, last_sent_at, code_length, email, channel,
    credentials_tag;
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
        c.credentials_tag,
    )


USE_CODE = (
    "UPDATE challenges SET attempts = attempts + 1, consumed_at = ? WHERE id = ? AND consumed_at IS NULL"
    " AND expires_at > ? AND attempts < max_attempts AND code_hmac = ? AND channel = ?"
)


def use_code_values(use: CodeUse, time_value: TimeValue) -> tuple[object, ...]:
    at = time_value(use.at)
    return (at, use.challenge_id, at, use.code_hmac, use.channel)


def use_code_sql(p: str) -> str:
    """The UPDATE consuming a challenge as a `CodeUse` says, its attempt counted (no row changed: the
    challenge cannot be used so); `p` is the backend's placeholder, the values `use_code_values`."""
    return USE_CODE.replace("?", p)
