"""The one INSERT of a step's audit events, for SQLite (`?`, epoch seconds, JSON text) and PostgreSQL
(`%s`, timestamptz, jsonb): both `append_audits` and a session stored with its step's events use it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from twostep.domain.models import AuditEvent

COLUMNS = "event, at, user_id, email_hash, phone_masked, ip, request_id, detail"


def insert_audits(
    events: Sequence[AuditEvent],
    mark: str,
    moment: Callable[[datetime], Any],
    detail: Callable[[dict[str, str]], Any] = json.dumps,
) -> tuple[str, list[Any]]:
    """One statement, rows in order; `mark` is the driver's placeholder."""
    row = "(" + ", ".join(mark for _ in range(8)) + ")"
    sql = f"INSERT INTO audit ({COLUMNS}) VALUES {', '.join(row for _ in events)}"  # noqa: S608 (placeholders only)
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
