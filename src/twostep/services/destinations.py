"""Where codes may go: the country allow-list and the kinds of number that can receive a text."""

from __future__ import annotations

from dataclasses import dataclass

from twostep.domain.identity import phone_country
from twostep.domain.numbers import DEFAULT_ALLOWED_TYPES, number_type

MESSAGES = {
    "country_not_allowed": "Codes cannot be sent to this country.",
    "number_type_not_allowed": (
        "Codes can only be sent to mobile numbers (not premium-rate, toll-free, fixed-line or satellite)."
    ),
}


@dataclass(frozen=True, slots=True)
class DestinationRules:
    """`countries` empty allows every country; `number_types` are phonenumbers' type names."""

    countries: tuple[str, ...] = ()
    number_types: tuple[str, ...] = DEFAULT_ALLOWED_TYPES

    def refusal(self, phone: str) -> str | None:
        """The rule `phone` breaks (`country_not_allowed`, `number_type_not_allowed`), or None."""
        if self.countries and phone_country(phone) not in self.countries:
            return "country_not_allowed"
        if self.number_types and number_type(phone) not in self.number_types:
            return "number_type_not_allowed"
        return None
