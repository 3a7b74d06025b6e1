"""What never reaches a log line: secrets by field name, and by precise patterns in any text.

The patterns name what they hide (tokens, one-time codes, phone numbers, keys) instead of blanking
every run of digits, so request ids, user ids, PIDs and ports stay readable. A number prefix the code
marks as one (`domain.numbers.NumberPrefix`) stays whole too: it is not a number.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from twostep.domain.numbers import NumberPrefix

REDACTED = "[redacted]"

# A field whose name ends with one of these carries a secret whatever its value looks like.
_SECRET_NAME_ENDINGS = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "credentials",
    "private_key",
)
_SECRET_NAMES = frozenset({"otp", "pin", "code_value", "body", "sms_body", "text", "hs256_secret"})

_Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]
_RULES: tuple[_Rule, ...] = (
    # PEM private keys, whole.
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        "[private key]",
    ),
    # JWTs (a refresh token or an access token) anywhere.
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[token]"),
    # `Authorization: Bearer <anything>` / `Basic <anything>`.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), lambda m: f"{m.group(1)} [token]"),
    # The password in a URL's user part (`postgresql://user:pw@host`): a driver's error may quote the URL.
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#@:\"']*:)[^\s/?#@\"']+(?=@)"),
        lambda m: f"{m.group(1)}{REDACTED}",
    ),
    # name=value and "name": "value" pairs whose name says secret.
    (
        re.compile(
            r"(?i)\b((?:[a-z_-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?token))"
            r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]+)"
        ),
        lambda m: f"{m.group(1)}{REDACTED}",
    ),
    # AWS access key ids.
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "[aws key]"),
    # A one-time code: after the word code/otp/pin, in an SMS text ("123456 is your"), or WebOTP "#123456".
    (
        re.compile(r"(?i)\b(code|otp|pin)(\W{1,3})(\d{4,10})\b"),
        lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}",
    ),
    (re.compile(r"\b\d{4,10}(?= is your\b)"), REDACTED),
    (re.compile(r"#\d{4,10}\b"), f"#{REDACTED}"),
    # Phone numbers: E.164 with its plus (separators allowed), or 11-15 digits standing alone (the
    # Flowroute form). Shorter runs (ports, PIDs, counts) and digits inside ids are left alone.
    (re.compile(r"(?<![\w+])\+\d(?:[\s().-]{0,2}\d){6,14}\b"), REDACTED),
    (re.compile(r"(?<![\w.:/-])\d{11,15}(?![\w.-])"), REDACTED),
)

# What each rule above cannot match without, as a pattern that finds it: a text it does not find is left
# as it is by that rule. Most log fields (event names, ids, messages) lack them all, and ten
# substitutions cost more than the rest of a log line (about half of its formatting).
# (The case-insensitive rules' needs are case-insensitive too, so they find what those rules would.)
# Each is cheap to look for: a literal or a character class first (a case-insensitive alternation is
# tried at every position of the text, costing more than the rule it would skip).
_NEED_PATTERNS = (
    "PRIVATE KEY-----",
    "eyJ",
    r"[Bb](?i:earer|asic)\s",
    "://",
    "[:=]",
    "AKIA|ASIA",
    r"\d{4}",  # a one-time code has 4 digits or more
    " is your",
    r"#\d",
    r"\+\d",
    r"\d{11}",
)
_NEEDS: tuple[Callable[[str], re.Match[str] | None], ...] = tuple(
    re.compile(need).search for need in _NEED_PATTERNS
)
# Something at least one rule needs, in one search: most texts in log lines (event names, messages, ids)
# have none, and then the ten searches above are skipped too. A code follows "code", "otp" or "pin" and
# one to three non-word characters (so the digits in a UUID's groups rarely call for the rules).
_ANY_NEED = re.compile(
    r"[:=#+]|[EePpNn]\W{1,3}\d{4}|\d{11}|eyJ|AKIA|ASIA|PRIVATE KEY-----| is your|[Bb](?i:earer|asic)\s"
).search


# Short texts the rules left as they were, looked up before any search: a request's id, its address, the
# account's id and masked number, event and channel names recur on every log line of a request and of a
# busy account, and a set lookup costs ~0.05 µs against 0.4-2.6 µs of searches a field (a sign-in's
# four lines: 0.02-0.05 ms less CPU in-process, 1-2 %). Only unchanged texts are kept, so it holds
# nothing the log lines do not carry verbatim; a text with a secret is scrubbed anew every time.
# Emptied when full (one operation, safe across threads).
_CLEAN: set[str] = set()
CLEAN_KEPT = 1024
CLEAN_LONGEST = 256


def scrub(text: str) -> str:
    """`text` with every pattern above replaced."""
    if text in _CLEAN:
        return text
    scrubbed = text
    if _ANY_NEED(text) is not None:
        for (pattern, replacement), needed in zip(_RULES, _NEEDS, strict=True):
            if needed(scrubbed) is not None:
                scrubbed = pattern.sub(replacement, scrubbed)
    if scrubbed == text and len(text) <= CLEAN_LONGEST:
        if len(_CLEAN) >= CLEAN_KEPT:
            _CLEAN.clear()
        _CLEAN.add(text)
    return scrubbed


def scrub_every_rule(text: str) -> str:
    """`scrub` without the shortcuts (what it must equal, for the tests)."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=512)  # field names come from the code: a few dozen, asked on every log line
def is_secret_field(name: str) -> bool:
    key = name.lower().replace("-", "_")
    return key in _SECRET_NAMES or key.endswith(_SECRET_NAME_ENDINGS)


# What a number prefix a log line may keep whole looks like: + and at most 11 digits (E.164's 15 without
# the four a prefix drops). Anything else, even marked as a prefix, is scrubbed like any text.
_NUMBER_PREFIX = re.compile(r"\+\d{1,11}")


def redact(name: str, value: Any) -> Any:
    """One log field's value as it may be written: hidden by name, scrubbed if text, nested ones too."""
    if is_secret_field(name):
        return REDACTED
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, dict):
        return {str(k): redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(name, item) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


def _redact_text(text: str) -> str:
    if isinstance(text, NumberPrefix) and _NUMBER_PREFIX.fullmatch(text):
        return str(text)  # a number block the fraud guard names, not a number: the operator needs it
    return scrub(text)
