"""What kind of number an E.164 number is, and the prefix the fraud guard counts it under."""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import PhoneNumberType

# phonenumbers' type names, as operators write them in TWOSTEP_SMS_ALLOWED_NUMBER_TYPES.
NUMBER_TYPES: dict[str, int] = {
    name: value for name, value in vars(PhoneNumberType).items() if name.isupper() and isinstance(value, int)
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


def destination_prefix(e164: str) -> str:
    """The country code and leading digits (the last four dropped): one operator's number block."""
    return e164[:-PREFIX_DROPPED_DIGITS] if len(e164) > PREFIX_DROPPED_DIGITS + 2 else e164
