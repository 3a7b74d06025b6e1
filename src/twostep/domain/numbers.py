"""What kind of number an E.164 number is, and the prefix the fraud guard counts it under."""

from __future__ import annotations

import functools

# phonenumbers' type names (its `PhoneNumberType`), as operators write them in TWOSTEP_SMS_ALLOWED_NUMBER_TYPES.
# Written out, not read from phonenumbers: importing it costs ~10 ms of a Lambda cold start that a request
# without a phone number never needs, and settings check these names at start-up (a test keeps the two equal).
NUMBER_TYPES: dict[str, int] = {
    "FIXED_LINE": 0,
    "MOBILE": 1,
    "FIXED_LINE_OR_MOBILE": 2,
    "TOLL_FREE": 3,
    "PREMIUM_RATE": 4,
    "SHARED_COST": 5,
    "VOIP": 6,
    "PERSONAL_NUMBER": 7,
    "PAGER": 8,
    "UAN": 9,
    "VOICEMAIL": 10,
    "UNKNOWN": 99,
}
# phonenumbers calls satellite phones (+870 Inmarsat, +881 Iridium/Globalstar) and the +882/+883
# international networks MOBILE; they are among the priciest SMS routes, so they get types of their own.
SATELLITE_CODES = frozenset({870, 881})
INTERNATIONAL_NETWORK_CODES = frozenset({882, 883})
NUMBER_TYPES |= {"SATELLITE": -1, "INTERNATIONAL_NETWORK": -2}
# Only numbers that can receive a text: premium-rate, toll-free, shared-cost, satellite and fixed lines
# are where SMS pumping sends codes nobody uses.
DEFAULT_ALLOWED_TYPES = ("MOBILE", "FIXED_LINE_OR_MOBILE")
PREFIX_DROPPED_DIGITS = 4


@functools.lru_cache(maxsize=4096)  # pure, and asked for each text to a number (see identity.RECENT_NUMBERS)
def number_type(e164: str) -> str:
    """The phonenumbers type name of a number, such as `MOBILE` or `PREMIUM_RATE` (`UNKNOWN` if unparsable),
    or `SATELLITE` / `INTERNATIONAL_NETWORK` for the non-geographic satellite and network codes."""
    import phonenumbers  # here: see NUMBER_TYPES

    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "UNKNOWN"
    if number.country_code in SATELLITE_CODES:
        return "SATELLITE"
    if number.country_code in INTERNATIONAL_NETWORK_CODES:
        return "INTERNATIONAL_NETWORK"
    kind = phonenumbers.number_type(number)
    for name, value in NUMBER_TYPES.items():
        if value == kind:
            return name
    return "UNKNOWN"


class NumberPrefix(str):
    """A destination prefix (`destination_prefix`) named in a log line: by design not a full number, so
    the log keeps it whole, where the phone number rule would hide `+491511230` (`redaction.redact`)."""

    __slots__ = ()


def destination_prefix(e164: str) -> str:
    """The country code and leading digits (the last four dropped): one operator's number block."""
    return e164[:-PREFIX_DROPPED_DIGITS] if len(e164) > PREFIX_DROPPED_DIGITS + 2 else e164
