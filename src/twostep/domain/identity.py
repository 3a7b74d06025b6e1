"""Normalising what identifies a person: email addresses and phone numbers (E.164)."""

from __future__ import annotations

import phonenumbers

from twostep.domain.errors import InvalidInput, InvalidPhoneNumber

MAX_EMAIL_LENGTH = 254


def normalise_email(raw: str) -> str:
    """Trim, lower-case the domain (and the local part, as nearly every provider treats it so).

    Raises:
        InvalidInput: not a plausible address.
    """
    email = raw.strip()
    if len(email) > MAX_EMAIL_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in email):
        raise InvalidInput("The email address is not valid.", field="email")
    local, sep, domain = email.rpartition("@")
    if not sep or not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise InvalidInput("The email address is not valid.", field="email")
    return f"{local.lower()}@{domain.lower()}"


def parse_phone(raw: str, *, field: str = "phoneNumber") -> str:
    """Parse an international number to E.164; Flowroute sms-verification's 11-digit `1XXXXXXXXXX` counts as +1.

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
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(field=field) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_country(e164: str) -> str | None:
    """ISO 3166 region code of an E.164 number, such as "DE"."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


def mask_phone(e164: str) -> str:
    """Show the country code and the last two digits only: +90*******55."""
    try:
        number = phonenumbers.parse(e164, None)
        prefix = f"+{number.country_code}"
    except phonenumbers.NumberParseException:
        prefix = e164[:2]
    hidden = max(0, len(e164) - len(prefix) - 2)
    return f"{prefix}{'*' * hidden}{e164[-2:]}"
