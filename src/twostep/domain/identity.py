"""Normalising what identifies a person: email addresses and phone numbers (E.164)."""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from typing import NewType, NoReturn

from email_validator import EmailNotValidError, validate_email

from twostep.domain.errors import InvalidInput, InvalidPhoneNumber

MAX_EMAIL_LENGTH = 254
# Letters of these scripts are written together in one name (Japanese, Korean), so they count as one.
_SCRIPT_FAMILIES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "CJK": "CJK"}
# Unicode categories that draw nothing or reorder text: zero-width, bidirectional controls, unassigned.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})

# Parsing a number with phonenumbers costs more than the SQL statement that reads it, and a sign-in
# asks about the same number many times (country for prices and budgets, masks for the audit and the
# answer, type for the destination rules): the answers are pure, so they are kept for recent numbers.
RECENT_NUMBERS = 4096
RECENT_EMAILS = 1024

E164 = NewType("E164", str)
"""A phone number in E.164 form (`+` and digits), as `parse_phone` returns it: the one phone type."""


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0]
    return _SCRIPT_FAMILIES.get(first, first)


def _refuse_email(reason: str) -> NoReturn:
    raise InvalidInput(f"The email address is not valid: {reason}", field="email")


@functools.lru_cache(maxsize=RECENT_EMAILS)  # every sign-in normalises the typed address (email-validator)
def normalise_email(raw: str) -> str:
    """The one canonical form an address is stored and compared in.

    Unicode NFKC, validated by email-validator, the local part case-folded, the domain in its ASCII
    (IDNA) form, so `Test@MÜNCHEN.de` (also in full-width letters), `test@münchen.de` and
    `test@xn--mnchen-3ya.de` are one address.
    Invisible and bidirectional control characters, and local parts that mix scripts (a Cyrillic a
    among Latin letters), are refused: they only ever serve to make one address look like another.

    Raises:
        InvalidInput: not a valid address, or one built to look like another.
    """
    text = raw.strip()
    if not text or len(text) > MAX_EMAIL_LENGTH * 4:
        _refuse_email("it is empty or too long.")
    if any(unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in text):
        _refuse_email("it contains invisible or control characters.")
    try:
        info = validate_email(unicodedata.normalize("NFKC", text), check_deliverability=False)
    except EmailNotValidError as exc:
        _refuse_email(str(exc))
    local = unicodedata.normalize("NFKC", info.local_part.casefold())
    scripts = {_script(ch) for ch in local if ch.isalpha()}
    if len(scripts) > 1:
        _refuse_email("its name mixes letters of different scripts.")
    email = f"{local}@{info.ascii_domain.lower()}"
    if len(email) > MAX_EMAIL_LENGTH:
        _refuse_email("it is too long.")
    return email


def mailbox_of(email: str) -> str:
    """The mailbox a canonical address delivers to, as the caps on code emails count it: its name without a
    `+detail` (RFC 5233 subaddress), since `ada+1@…` and `ada+2@…` reach `ada@…` at the providers that
    use the convention, and each spelling had a day's caps of its own.

    For limits only, never for identity: whether `+detail` names another mailbox is the domain's business
    (RFC 5321), so the two addresses stay two accounts; counting them as one only reaches a cap sooner.
    """
    local, _, domain = email.rpartition("@")
    name = local.split("+", 1)[0]
    return f"{name or local}@{domain}"


def sign_in_email(raw: str) -> str:
    """The email a sign-in looks the account up by and counts its failed passwords under.

    The canonical address (`normalise_email`), or for text that is no address a stand-in: a digest
    with no `@`, so no account's address can ever equal it, in ASCII every storage keeps (PostgreSQL
    refuses text holding a NUL character: such an email typed was answered 503 there, 401 elsewhere).
    Such a sign-in answers as an unknown email does (same work, same 401); its failures still count
    per text typed.
    """
    try:
        return normalise_email(raw)
    except InvalidInput:
        typed = raw.strip().lower().encode("utf-8", "surrogatepass")
        return f"not-an-address:{hashlib.sha256(typed).hexdigest()[:32]}"


def parse_phone(raw: str, *, field: str = "phoneNumber") -> E164:
    """Parse an international number to E.164; Flowroute sms-verification's 11-digit `1XXXXXXXXXX` is +1.

    Raises:
        InvalidPhoneNumber: anything that is not a valid number.
    """
    text = raw.strip()
    if len(text) > 32 or not text:
        raise InvalidPhoneNumber(field=field)
    if text.isdigit() and len(text) == 11 and text.startswith("1"):
        text = "+" + text
    if not text.startswith("+"):
        raise InvalidPhoneNumber("The phone number must start with + and the country code.", field=field)
    import phonenumbers  # here: the first number parsed pays its import (~10 ms), not every cold start

    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(field=field) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(field=field)
    return E164(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@functools.lru_cache(maxsize=RECENT_NUMBERS)
def phone_country(e164: str) -> str | None:
    """ISO 3166 region code of an E.164 number, such as "DE"."""
    import phonenumbers

    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


@functools.lru_cache(maxsize=RECENT_NUMBERS)
def mask_phone(e164: str) -> str:
    """Show the country code and the last two digits only: +90*******55."""
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, None)
        prefix = f"+{number.country_code}"
    except phonenumbers.NumberParseException:
        prefix = e164[:2]
    hidden = max(0, len(e164) - len(prefix) - 2)
    return f"{prefix}{'*' * hidden}{e164[-2:]}"


def mask_email(email: str) -> str:
    """The first letter of the name and the domain: a*****@example.com."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}{'*' * max(1, len(local) - 1)}@{domain}"
