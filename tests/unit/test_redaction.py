"""Secrets are hidden by field and by precise patterns; ids, PIDs and ports are left alone."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep import redaction
from twostep.domain.numbers import NumberPrefix
from twostep.logs import ConsoleFormatter, JsonFormatter, request_id_var
from twostep.redaction import CLEAN_KEPT, CLEAN_LONGEST, REDACTED, redact, scrub, scrub_every_rule

KEPT = [
    "Started server process [4585]",
    "[Errno 98] error while attempting to bind on address ('127.0.0.1', 8000): address already in use",
    "Uvicorn running on http://127.0.0.1:48213 (Press CTRL+C to quit)",
    "user 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed signed in",
    "request 0123456789abcdef0123456789abcdef and 12345678901234567890123456789012",
    "pid=12345 port=65535 attempts=1234 at 2026-11-28T07:47:21.203+00:00",
    "code=storage_unavailable cause=locked (SQLITE_BUSY)",
    "masked +90*******55",
]

HIDDEN = {
    "sent to +905555555555 code 048213 token eyJa.eyJb.sig": (
        f"sent to {REDACTED} code {REDACTED} token [token]"
    ),
    "+1 (415) 555-2671 and 14155552671": f"{REDACTED} and {REDACTED}",
    "048213 is your twostep code. @auth.example.com #048213": (
        f"{REDACTED} is your twostep code. @auth.example.com #{REDACTED}"
    ),
    "Authorization: Bearer abcdefghijklmnop": "Authorization: Bearer [token]",
    'password=hunter2222 {"api_key": "k-123456", "refresh_token": "r.1"}': (
        f'password={REDACTED} {{"api_key": "{REDACTED}", "refresh_token": "{REDACTED}"}}'
    ),
    "otp: 123456": f"otp: {REDACTED}",
    "key AKIAIOSFODNN7EXAMPLE": "key [aws key]",
    # libpq quotes a URL it cannot read, password and all (psycopg.pool logged it on every try).
    'in URI: "postgresql://postgres:S3cr3t@[::1/twostep"': (
        f'in URI: "postgresql://postgres:{REDACTED}@[::1/twostep"'
    ),
    "smtp://mailer:pa55:word@mail.example.com:587": f"smtp://mailer:{REDACTED}@mail.example.com:587",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----": "[private key]",
}


@pytest.mark.parametrize("text", KEPT)
def test_ids_pids_ports_and_error_codes_are_kept(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(("text", "expected"), HIDDEN.items())
def test_secrets_are_hidden(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_fields_by_name_and_nested() -> None:
    assert redact("password", "anything at all") == REDACTED
    assert redact("X-Api-Key", "k") == REDACTED
    assert redact("refresh_token", None) == REDACTED
    assert redact("to", "+905555555555") == REDACTED
    assert redact("user_id", "u-0001234") == "u-0001234"
    assert redact("pid", 4585) == 4585
    assert redact("detail", {"otp": "123456", "ip": "203.0.113.9"}) == {"otp": REDACTED, "ip": "203.0.113.9"}


def test_a_number_prefix_stays_whole_and_numbers_do_not() -> None:
    """Before, the fraud guard's lines named the blocked prefix `+491511230` as [redacted] (the E.164
    rule matched it), so an alert could not say which. A value marked as a prefix stays whole; the same
    text unmarked, a full number, or a marked value that is not + and digits are hidden as before."""
    assert redact("prefix", NumberPrefix("+491511230")) == "+491511230"
    assert redact("prefix", "+491511230") == REDACTED
    assert redact("to", "+4915112301234") == REDACTED
    assert redact("prefix", NumberPrefix("+4915112301234 otp 123456")) == f"{REDACTED} otp {REDACTED}"
    assert redact("password", NumberPrefix("+491511230")) == REDACTED
    line = json.loads(JsonFormatter().format(record("blocked", prefix=NumberPrefix("+491511230"))))
    assert line["prefix"] == "+491511230"


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("twostep.test", logging.WARNING, __file__, 1, message, (), None)
    entry.__dict__.update(extra)
    return entry


def test_both_formats_redact_the_same() -> None:
    line = record("sms to +905555555555", user_id="u-12345678", password="hunter2222", pid=4585)
    as_json = json.loads(JsonFormatter().format(line))
    assert as_json["message"] == f"sms to {REDACTED}"
    assert (as_json["user_id"], as_json["password"], as_json["pid"]) == ("u-12345678", REDACTED, 4585)
    console = ConsoleFormatter().format(line)
    assert "hunter2222" not in console and "+905555555555" not in console
    assert "user_id=u-12345678" in console and "pid=4585" in console and "WARNING" in console


@pytest.mark.parametrize("formatter", [JsonFormatter(), ConsoleFormatter()], ids=["json", "console"])
@pytest.mark.parametrize("request_id", ["16505550123", "pin-12345678", "order.12345678"])
def test_the_requests_own_id_stays_whole_when_passed_again(
    formatter: logging.Formatter, request_id: str
) -> None:
    """Before, an audit line (which passes the request id again as a field) carried a client's
    `X-Request-Id: 16505550123` as [redacted] and `pin-12345678` as `pin-[redacted]`, though the client
    was answered the id whole. The same text in any other field, or another id, is still redacted."""
    token = request_id_var.set(request_id)
    try:
        line = record("audit", request_id=request_id, note=request_id)
        other = record("audit", request_id="+14155550123")  # not the request's own: redacted as ever
        text, other_text = formatter.format(line), formatter.format(other)
    finally:
        request_id_var.reset(token)
    note = redact("note", request_id)
    if isinstance(formatter, JsonFormatter):
        assert json.loads(text)["request_id"] == request_id
        assert json.loads(text)["note"] == note
        assert json.loads(other_text)["request_id"] == REDACTED
    else:
        assert f"request_id={request_id}" in text and f"note={note}" in text
    assert "+14155550123" not in other_text


@given(st.from_regex(r"[A-Za-z0-9._-]{8,64}", fullmatch=True))
def test_a_request_id_is_written_whole_and_the_same_text_elsewhere_redacted(request_id: str) -> None:
    token = request_id_var.set(request_id)
    try:
        fields = json.loads(JsonFormatter().format(record("audit", request_id=request_id, to=request_id)))
    finally:
        request_id_var.reset(token)
    assert fields["request_id"] == request_id
    assert fields["to"] == redact("to", request_id)


# Every character the rules look for (and look-alikes case-insensitive patterns match), so the shortcuts
# meet each rule's edge cases.
_ALPHABET = (
    "0123456789+#:= -_.()/\"'\n\tABCDEIKLNPRSTVYabceijkoprstuwy\u017f\u212a\u0663"  # long s, Kelvin, Arabic 3
)
_PIECES = st.sampled_from(
    [
        "eyJ",
        "AKIA",
        "ASIA",
        " is your",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
        "Bearer ",
        "basic ",
        "password",
        "api-key",
        "code",
        "OTP",
        "pin",
        "code: 123456",
        "OTP-4321",
        "P\u0130N",
        "co\u212ae",
        "+90555",
        "4155550123456",
        "123456",
        "#",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        "AKIAIOSFODNN7EXAMPLE",
        "postgresql://u:p@h",
        "\u0663\u0663\u0663\u0663",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(alphabet=_ALPHABET, max_size=12)), max_size=8).map("".join))
def test_shortcuts_change_nothing(text: str) -> None:
    """`scrub` skips a rule when the text lacks what the rule needs, and a text it left unchanged before;
    the first time and again, it must equal running them all."""
    assert scrub(text) == scrub_every_rule(text)
    assert scrub(text) == scrub_every_rule(text)


def test_a_clean_text_is_remembered_and_a_secret_never() -> None:
    clean = f"user {uuid.uuid4()} signed in from +90********00"
    secret = f"sign-in code: {uuid.uuid4().int % 900000 + 100000}"
    assert scrub(clean) == clean
    assert clean in redaction._CLEAN
    assert scrub(secret) == f"sign-in code: {REDACTED}"
    assert secret not in redaction._CLEAN
    assert scrub(secret) == f"sign-in code: {REDACTED}"  # again: scrubbed anew, never taken as clean


def test_the_clean_texts_kept_are_bounded() -> None:
    for number in range(CLEAN_KEPT + 10):
        scrub(f"item {number} of {uuid.uuid4()}")
    assert 0 < len(redaction._CLEAN) <= CLEAN_KEPT
    longer = "x" * (CLEAN_LONGEST + 1)
    assert scrub(longer) == longer
    assert longer not in redaction._CLEAN
