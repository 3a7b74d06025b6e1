"""The console outbox's listing filter for the relational backends (SQLite and PostgreSQL)."""

from __future__ import annotations


def outbox_filter(to: str | None, channel: str | None, placeholder: str) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause (empty, or starting with a space) and its values for `list_outbox`'s filters."""
    conditions = [
        (f"{column} = {placeholder}", value)
        for column, value in (("to_number", to), ("channel", channel))
        if value is not None
    ]
    if not conditions:
        return "", ()
    return " WHERE " + " AND ".join(c for c, _ in conditions), tuple(v for _, v in conditions)
