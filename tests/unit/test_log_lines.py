"""The log line writer: the same JSON text as the standard encoder, one line per record, filters kept;
the libraries' warnings in the same lines."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from twostep.logs import _JSON, JsonFormatter, LineHandler, _encode_line, configure_logging


class Opaque:
    def __str__(self) -> str:
        return "opaque"


def test_a_line_is_encoded_as_the_standard_encoder_does() -> None:
    entry: dict[str, object] = {
        "time": "2026-11-28T19:15:02.283733+00:00",
        "message": 'quote " backslash \\ tab \t é ☃ \U0001f600',
        "count": 3,
        "ratio": 0.5,
        "none": None,
        "flag": True,
        "nested": {"list": [1, "two", None]},
        "other": Opaque(),
    }
    assert _encode_line(entry) == _JSON.encode(entry)
    assert json.loads(_encode_line(entry))["other"] == "opaque"


def _handler(stream: io.StringIO) -> LineHandler:
    handler = LineHandler(stream)
    handler.setFormatter(JsonFormatter())
    return handler


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("twostep.test", logging.INFO, __file__, 1, message, (), None)


def test_each_record_is_one_line_written_through() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")  # not line-buffered
    handler = LineHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.handle(_record("first"))
    handler.handle(_record("second"))
    lines = raw.getvalue().decode().splitlines()  # in the bytes already: the handler flushed
    assert [json.loads(line)["message"] for line in lines] == ["first", "second"]


def test_filters_still_apply() -> None:
    stream = io.StringIO()
    handler = _handler(stream)
    handler.addFilter(lambda record: record.getMessage() != "dropped")
    handler.handle(_record("dropped"))
    handler.handle(_record("kept"))
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["kept"]


def test_library_warnings_are_json_lines_and_their_debug_output_stays_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("DEBUG", "json")
    logging.getLogger("psycopg.pool").warning("error connecting in %r: %s", "twostep", "connection refused")
    logging.getLogger("asyncio").error("Task exception was never retrieved")
    logging.getLogger("botocore.endpoint").debug("Sending http request: <AWSPreparedRequest body=secret>")
    logging.getLogger("twostep.test").debug("twostep's own debug line")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("psycopg.pool", "WARNING"),
        ("asyncio", "ERROR"),
        ("twostep.test", "DEBUG"),
    ]
    assert lines[0]["message"] == "error connecting in 'twostep': connection refused"
