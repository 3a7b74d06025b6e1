"""One-time codes: drawn from `secrets`, fixed length with leading zeros, kept only as an HMAC."""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata

from twostep.domain.errors import InvalidInput


def generate_code(length: int) -> str:
    """A uniformly random string of `length` decimal digits (leading zeros kept)."""
    if not 4 <= length <= 10:
        raise InvalidInput("code length must be between 4 and 10", field="code_length")
    return f"{secrets.randbelow(10**length):0{length}d}"


# Marks a stored HMAC bound to more than its challenge (a transaction), so the code can be recognised as
# bound without storing what it is bound to.
BOUND_PREFIX = "b1:"

# Stored in place of a canceled verification's HMAC: no digest (64 hex digits, or BOUND_PREFIX and 64) can
# equal it, so no code matches the challenge again, and the status read can tell a cancel from an expiry.
CANCELED_CODE = "canceled"


def is_bound(code_hmac: str) -> bool:
    """Whether a stored code HMAC was bound to a transaction (see `CodeHasher.digest`)."""
    return code_hmac.startswith(BOUND_PREFIX)


class CodeHasher:
    """Keys the code HMAC to the challenge id, so a stored hash is useless for any other challenge."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the code HMAC key must be at least 32 bytes")
        # Keyed once: hmac.digest sets the key up (OpenSSL 3 fetches SHA-256 and pads the key) on every
        # call, ~12 µs; a copy of the keyed HMAC is the same HMAC for ~6 µs, twice per sign-in.
        self._keyed = hmac.new(key, digestmod="sha256")

    def _hmac_hex(self, message: str) -> str:
        mac = self._keyed.copy()
        mac.update(message.encode())
        return mac.hexdigest()

    def digest(self, challenge_id: str, code: str, binding: str = "") -> str:
        """`binding` ties the code to more than its challenge (a transaction's canonical encoding, see
        domain/transaction.py); empty, the message is what it always was, so codes stored before stay valid."""
        message = f"{challenge_id}\x00{code}"
        if not binding:
            return self._hmac_hex(message)
        # challenge ids and codes hold no NUL, so the unbound form can never equal a bound one
        message += f"\x00{binding}"
        return BOUND_PREFIX + self._hmac_hex(message)

    def matches(self, challenge_id: str, code: str, stored: str, binding: str = "") -> bool:
        return hmac.compare_digest(self.digest(challenge_id, code, binding), stored)


ASCII_DIGITS = "0123456789"


def ascii_digits(text: str) -> str:
    """`text` in ASCII digits when it is decimal digits of any script, else `text` itself (never digits then).

    A phone's keyboard may type a code in full-width (a Japanese IME) or Arabic-Indic digits; every code
    check compares ASCII digits, so each accepts these alike. `isdecimal`, not `isdigit`: `²` is no
    digit of a number. Folded digit by digit: leading zeros stay, and `int()` of a long text would raise.
    """
    if text.isascii() or not text.isdecimal():
        return text
    return "".join(ASCII_DIGITS[unicodedata.decimal(ch)] for ch in text)


def normalise_submitted_code(raw: object, length: int) -> str:
    """Accept a string of digits (of any script, see `ascii_digits`), or a JSON number left-padded to
    `length` (the Spring serverless 2FA client sends numbers).

    Raises:
        InvalidInput: not digits, or longer than the code.
    """
    if isinstance(raw, bool):
        raise InvalidInput("the code must be digits", field="otp")
    if isinstance(raw, int):
        if raw < 0:
            raise InvalidInput("the code must be digits", field="otp")
        text = str(raw).rjust(length, "0")
    elif isinstance(raw, str):
        text = raw.strip()
        # The test an ASCII code always had, now before folding: nearly every sign-in costs what it did.
        if not text.isascii() and not (text := ascii_digits(text)).isascii():
            raise InvalidInput("the code must be 4 to 10 digits", field="otp")
    else:
        raise InvalidInput("the code must be digits", field="otp")
    if not text.isdigit() or not 1 <= len(text) <= 10:
        raise InvalidInput("the code must be 4 to 10 digits", field="otp")
    return text


# What an operator's template (`TWOSTEP_SMS_TEMPLATE`, `TWOSTEP_VERIFY_TEMPLATE`, a tenant's) may name;
# `render_message` fills these in and sends any other `{word}` as written.
TEMPLATE_PLACEHOLDERS = ("{code}", "{org}", "{minutes}")
_PLACEHOLDER = re.compile(r"\{[A-Za-z_]+\}")


def template_problem(template: str) -> str | None:
    """Why an operator's template cannot be used, or None. A misspelt placeholder (`{minute}`) went out
    to every recipient as written."""
    if "{code}" not in template:
        return "the template must contain {code}"
    unknown = sorted(set(_PLACEHOLDER.findall(template)) - set(TEMPLATE_PLACEHOLDERS))
    if unknown:
        return f"{', '.join(unknown)}: no such placeholder (a template may name {', '.join(TEMPLATE_PLACEHOLDERS)})"
    return None


def render_message(
    template: str,
    *,
    code: str,
    org: str,
    ttl_seconds: int,
    web_origin: str | None,
    app_hash: str | None = None,
) -> str:
    """Fill the SMS template; append the WebOTP line (`@domain #code`) when a web origin is set, and the
    Android SMS Retriever app hash when one is set (see `autofill_lines`)."""
    minutes = max(1, round(ttl_seconds / 60))
    body = template.replace("{code}", code).replace("{org}", org).replace("{minutes}", str(minutes))
    return body + autofill_lines(code, web_origin, app_hash)


def autofill_lines(code: str, web_origin: str | None, app_hash: str | None) -> str:
    """The end of a code SMS that lets browsers (WebOTP) and Android apps (SMS Retriever) fill it in.

    WebOTP wants `@domain #code` to begin the message's last line and ignores what follows on it
    (WICG sms-one-time-codes, "trailing text in the last line is ignored"); SMS Retriever wants the
    app's 11-character hash at the very end. So both share the last line, `@domain #code HASH`; without
    a web origin the hash stands on its own last line.
    """
    lines = ""
    if web_origin:
        domain = web_origin.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        lines = f"\n\n@{domain} #{code}"
    if app_hash:
        lines += f" {app_hash}" if web_origin else f"\n\n{app_hash}"
    return lines
