"""Logs on stderr with the request id: JSON lines (production) or readable lines (`TWOSTEP_LOG_FORMAT=console`).

Every field goes through `redaction.redact` and the message through `redaction.scrub`, so a secret that
slipped into a log call is still hidden; ids, PIDs and ports stay as they are.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from twostep.redaction import redact, scrub

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}

__all__ = ["ConsoleFormatter", "JsonFormatter", "configure_logging", "request_id_var", "scrub"]


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's extra fields (and the request id and error type), redacted."""
    fields: dict[str, Any] = {}
    request_id = request_id_var.get()
    if request_id:
        fields["request_id"] = request_id
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            fields[key] = redact(key, value)
    if record.exc_info and record.exc_info[0] is not None:
        fields["error"] = record.exc_info[0].__name__
    return fields


# `json.dumps(entry, default=str)` builds this encoder anew for every line.
_JSON = json.JSONEncoder(default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        entry.update(_fields(record))
        return _JSON.encode(entry)


class ConsoleFormatter(logging.Formatter):
    """`12:00:01 WARNING twostep.api  dependency unavailable  code=storage_unavailable cause=…`."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC).strftime("%H:%M:%S")
        fields = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{moment} {record.levelname:<7} {record.name}  {scrub(record.getMessage())}"
        return f"{line}  {fields}" if fields else line


def configure_logging(level: str = "INFO", log_format: str = "json") -> None:
    """Lines on stderr for twostep and uvicorn, JSON or console; idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ConsoleFormatter() if log_format == "console" else JsonFormatter())
    for name in ("twostep", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
