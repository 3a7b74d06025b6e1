"""Logs on stderr with the request id: JSON lines (production) or readable lines (`TWOSTEP_LOG_FORMAT=console`).

Every field goes through `redaction.redact` and the message through `redaction.scrub`, so a secret that
slipped into a log call is still hidden; ids, PIDs and ports stay as they are. The request's id is
written whole (it was checked against a safe pattern, or made here, when the request began), also when a
call passes it again as a field.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Callable
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

__all__ = [
    "ConsoleFormatter",
    "JsonFormatter",
    "configure_cli_logging",
    "configure_logging",
    "request_id_var",
    "scrub",
]


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's extra fields (and the request id and error type), redacted."""
    fields: dict[str, Any] = {}
    request_id = request_id_var.get()
    if request_id:
        fields["request_id"] = request_id
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            if key == "request_id" and value == request_id:
                # The request's own id, passed again (audit lines): vouched for when the request began
                # (pattern-checked, or made here), so it stays whole, as the client was told it.
                continue
            fields[key] = redact(key, value)
    if record.exc_info and record.exc_info[0] is not None:
        fields["error"] = record.exc_info[0].__name__
    return fields


# `json.dumps(entry, default=str)` builds this encoder anew for every line.
_JSON = json.JSONEncoder(default=str)


def _line_encoder() -> Callable[[dict[str, object]], str]:
    """`_JSON.encode`, without building its C encoder again for every line (as `encode` does): an entry
    is a flat dict made here, never circular. The same text (tested); `_JSON.encode` without the C one."""
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # CPython's C accelerator (private)
    if make is None:
        return _JSON.encode
    # markers, default, string encoder, indent, separators, sort_keys, skipkeys, allow_nan: _JSON's own
    encode = make(None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return lambda entry: "".join(encode(entry, 0))


_encode_line = _line_encoder()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        entry.update(_fields(record))
        return _encode_line(entry)


class ConsoleFormatter(logging.Formatter):
    """`12:00:01 WARNING twostep.api  dependency unavailable  code=storage_unavailable cause=…`."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC).strftime("%H:%M:%S")
        fields = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{moment} {record.levelname:<7} {record.name}  {scrub(record.getMessage())}"
        return f"{line}  {fields}" if fields else line


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """`logging.StreamHandler` in fewer steps per line: one write, and a flush only where the stream does
    not flush each line itself (stderr is line-buffered since Python 3.9, also into a file or pipe)."""

    def handle(self, record: logging.LogRecord) -> bool:
        if self.filters:
            return bool(super().handle(record))
        with self.lock:  # type: ignore[union-attr]
            self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.stream
            stream.write(self.formatter.format(record) + "\n")  # type: ignore[union-attr]
            if not getattr(stream, "line_buffering", False):
                stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def _skip_unused_record_fields() -> None:
    """Neither format writes a record's source line, thread or process name (a line carries `pid`
    where it matters), so the logging module need not look them up for every record: its documented
    optimisation (Logging HOWTO, "Optimization")."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


# Libraries whose warnings reach the operator: without a handler of their own, Python's last-resort
# handler printed them as bare text between the JSON lines (psycopg_pool's "error connecting ..." while
# PostgreSQL was down). Never below WARNING: their debug output can carry request bodies and keys.
LIBRARY_LOGGERS = ("psycopg", "botocore", "boto3", "asyncio")


def configure_logging(level: str = "INFO", log_format: str = "json") -> None:
    """Lines on stderr for twostep, uvicorn and the libraries above, JSON or console; idempotent."""
    _skip_unused_record_fields()
    handler = LineHandler(sys.stderr)
    handler.setFormatter(ConsoleFormatter() if log_format == "console" else JsonFormatter())
    library_level = max(logging.getLevelName(level), logging.WARNING)
    levels = {"twostep": level, "uvicorn": level, "uvicorn.error": level}
    for name, name_level in (levels | dict.fromkeys(LIBRARY_LOGGERS, library_level)).items():
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(name_level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True


def configure_cli_logging() -> None:
    """An administration command's lines: readable, WARNING and up (as before), redacted as the server's.

    Without it Python's last-resort handler printed them bare, unredacted (psycopg_pool's "error
    connecting ..." while PostgreSQL was down). The root logger gets the handler too: a command is a
    short process of its own, so any library's warning goes through the same redaction."""
    configure_logging("WARNING", "console")
    root = logging.getLogger()
    root.handlers = list(logging.getLogger("twostep").handlers)
    root.setLevel(logging.WARNING)
