"""What one SMS segment costs, per destination country: the default table and the operator's overrides.

The defaults are approximate outbound list prices in US dollars per segment (the order of magnitude of
Twilio's and AWS SNS's 2025 public price lists, rounded up); they exist so that a money budget works out
of the box. Set `TWOSTEP_SMS_PRICES` (`DE:0.09,US:0.0083,*:0.12`) to your provider's real prices. `*`
is the price of every country not in the table; it is deliberately high, since the expensive routes are
the ones SMS pumping goes for.
"""

from __future__ import annotations

from collections.abc import Mapping

MICRO = 1_000_000  # budgets and prices are counted in millionths of a dollar: integers, atomic counters

DEFAULT_PRICES_USD: dict[str, float] = {
    "US": 0.0083,
    "CA": 0.0083,
    "GB": 0.0524,
    "IE": 0.0826,
    "DE": 0.0936,
    "AT": 0.1185,
    "CH": 0.0694,
    "FR": 0.0780,
    "NL": 0.1114,
    "BE": 0.1054,
    "ES": 0.0834,
    "PT": 0.0420,
    "IT": 0.0874,
    "SE": 0.0700,
    "NO": 0.0750,
    "DK": 0.0600,
    "FI": 0.0900,
    "PL": 0.0400,
    "CZ": 0.0650,
    "TR": 0.0352,
    "IN": 0.0832,
    "BR": 0.0562,
    "MX": 0.0581,
    "AU": 0.0515,
    "NZ": 0.1200,
    "JP": 0.0777,
    "SG": 0.0500,
    "ZA": 0.0250,
    "*": 0.2000,
}


def price_table(overrides: Mapping[str, float] | None = None) -> dict[str, int]:
    """Micro-dollars per segment by ISO country (and `*`), the defaults with `overrides` on top."""
    prices = {**DEFAULT_PRICES_USD, **{k.upper(): v for k, v in (overrides or {}).items()}}
    return {country: round(price * MICRO) for country, price in prices.items()}


def to_micro(dollars: float) -> int:
    return round(dollars * MICRO)
