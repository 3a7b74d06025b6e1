"""Which language a code's text is written in: the locale chain.

A request's `locale` (or its `Accept-Language`), then the account's stored preference, then the
language of the number's country, then the configured default. A tag whose language has no bundled
texts falls through to the next step; a malformed tag in a request body is refused (400).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from twostep.domain.errors import InvalidInput

MAX_TAG_LENGTH = 35  # BCP 47 tags worth keeping are far shorter; RFC 5646 advises supporting 35
# A BCP 47 language tag as people send it: a 2-3 letter language, then subtags (script, region, …).
LOCALE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
ACCEPT_LANGUAGE_ENTRIES = 16  # the first few are all that matter; a long header costs nothing more

# The language most of a country's mobile users read their texts in, for the bundled languages.
# Countries with several languages get the one most texts there are written in (BE: Dutch, CH: German).
COUNTRY_LANGUAGES: dict[str, str] = {
    # German
    "DE": "de", "AT": "de", "CH": "de", "LI": "de", "LU": "de",
    # Turkish
    "TR": "tr", "CY": "tr",
    # French
    "FR": "fr", "MC": "fr", "SN": "fr", "CI": "fr", "CM": "fr", "ML": "fr", "BF": "fr", "NE": "fr",
    "TG": "fr", "BJ": "fr", "GA": "fr", "CG": "fr", "CD": "fr", "HT": "fr", "MG": "fr", "RE": "fr",
    "GP": "fr", "MQ": "fr", "GF": "fr", "NC": "fr", "PF": "fr",
    # Spanish
    "ES": "es", "MX": "es", "AR": "es", "CO": "es", "CL": "es", "PE": "es", "VE": "es", "EC": "es",
    "GT": "es", "CU": "es", "BO": "es", "DO": "es", "HN": "es", "PY": "es", "SV": "es", "NI": "es",
    "CR": "es", "PA": "es", "UY": "es", "PR": "es", "GQ": "es",
    # Italian
    "IT": "it", "SM": "it", "VA": "it",
    # Portuguese
    "PT": "pt", "BR": "pt", "AO": "pt", "MZ": "pt", "CV": "pt", "GW": "pt", "ST": "pt", "TL": "pt",
    # Dutch
    "NL": "nl", "BE": "nl", "SR": "nl", "AW": "nl", "CW": "nl", "SX": "nl", "BQ": "nl",
    # Polish
    "PL": "pl",
    # Russian
    "RU": "ru", "BY": "ru", "KZ": "ru", "KG": "ru",
    # Arabic
    "SA": "ar", "AE": "ar", "EG": "ar", "QA": "ar", "KW": "ar", "BH": "ar", "OM": "ar", "JO": "ar",
    "LB": "ar", "IQ": "ar", "SY": "ar", "YE": "ar", "PS": "ar", "LY": "ar", "DZ": "ar", "MA": "ar",
    "TN": "ar", "SD": "ar", "MR": "ar",
    # Japanese
    "JP": "ja",
}  # fmt: skip


def normalise_locale(raw: str, *, field: str = "locale") -> str:
    """A well-formed tag in its canonical case (`de`, `pt-BR`, `zh-Hant-TW`).

    Raises:
        InvalidInput: naming `field`, for anything that is not a language tag.
    """
    text = raw.strip()
    if len(text) > MAX_TAG_LENGTH or not LOCALE_TAG.fullmatch(text):
        raise InvalidInput("locale must be a language tag such as de, tr or pt-BR.", field=field)
    language, *rest = text.replace("_", "-").split("-")
    subtags = [part.upper() if len(part) == 2 else part.title() if len(part) == 4 else part for part in rest]
    return "-".join([language.lower(), *subtags])


def language_of(tag: str) -> str:
    """The primary language subtag: `pt-BR` -> `pt`."""
    return tag.replace("_", "-").split("-", 1)[0].lower()


def accepted_languages(header: str | None) -> tuple[str, ...]:
    """The tags of an `Accept-Language` header, best first (RFC 9110 q-values); malformed entries,
    `*` and q=0 are left out: a header never fails a request."""
    if not header:
        return ()
    weighted: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")[:ACCEPT_LANGUAGE_ENTRIES]):
        tag, _, params = entry.strip().partition(";")
        quality = _quality(params)
        if quality <= 0 or not LOCALE_TAG.fullmatch(tag.strip()) or len(tag.strip()) > MAX_TAG_LENGTH:
            continue
        weighted.append((-quality, position, normalise_locale(tag)))
    return tuple(tag for _, _, tag in sorted(weighted))


def _quality(params: str) -> float:
    name, _, value = params.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    return quality if 0 <= quality <= 1 else 0.0


def choose_language(
    candidates: Iterable[str | None], country: str | None, available: Collection[str], default: str
) -> str:
    """The first candidate tag whose language is `available`, else the country's language, else `default`."""
    for tag in candidates:
        if tag and language_of(tag) in available:
            return language_of(tag)
    by_country = COUNTRY_LANGUAGES.get(country or "")
    if by_country is not None and by_country in available:
        return by_country
    return language_of(default)
