"""The one INSERT of a step's audit events, for SQLite (`?`, epoch seconds, JSON text) and PostgreSQL
(`%s`, timestamptz, jsonb): both `append_audits` and a session stored with its step's events use it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from twostep.domain.json_text import dumps_like_json
from twostep.domain.models import AuditEvent

COLUMNS = "event, at, user_id, email_hash, phone_masked, ip, request_id, detail"
_DETAIL_JSON = dumps_like_json()  # json.dumps's text, its encoder built once


def insert_audits(
    events: Sequence[AuditEvent],
    mark: str,
    moment: Callable[[datetime], Any],
    detail: Callable[[dict[str, str]], Any] = _DETAIL_JSON,
) -> tuple[str, list[Any]]:
    """One statement, rows in order; `mark` is the driver's placeholder."""
    sql = _insert_sql(len(events), mark)
    values = [
        value
        for e in events
        for value in (
            e.event,
            moment(e.at),
            e.user_id,
            e.email_hash,
            e.phone_masked,
            e.ip,
            e.request_id,
            detail(e.detail),
        )
    ]
    return sql, values


@functools.lru_cache(maxsize=16)  # a step stores one to three events: a few texts, built once each
def _insert_sql(count: int, mark: str) -> str:
    row = "(" + ", ".join(mark for _ in range(8)) + ")"
    return f"INSERT INTO audit ({COLUMNS}) VALUES {', '.join(row for _ in range(count))}"  # noqa: S608 (placeholders only)


# PostgreSQL types of COLUMNS: the rows of a SELECT are not typed by the INSERT's columns, as VALUES are.
_PG_TYPES = ("text", "timestamptz", "text", "text", "text", "text", "text", "jsonb")


def insert_audits_if_armed(
    events: Sequence[AuditEvent], detail: Callable[[dict[str, str]], Any]
) -> tuple[str, list[Any]]:
    """PostgreSQL: the events' INSERT for a WITH query next to `armed` (a challenge's arming UPDATE …
    RETURNING): rows are inserted only when `armed` returned one."""
    row = "(" + ", ".join(f"%s::{kind}" for kind in _PG_TYPES) + ")"
    rows = ", ".join(row for _ in events)
    sql = (
        f"INSERT INTO audit ({COLUMNS}) SELECT * FROM (VALUES {rows}) AS v"  # noqa: S608 (placeholders only)
        " WHERE EXISTS (SELECT FROM armed)"
    )
    return sql, insert_audits(events, "%s", lambda at: at, detail)[1]
