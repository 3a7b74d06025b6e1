"""The bundled texts of a code message, per language: what the SMS says and what a call reads aloud.

Placeholders: `{code}`, `{org}`, `{minutes}` (the code's lifetime), and for transaction texts
`{amount}` and `{payee}`. Every SMS text starts with the code, so it shows first in a lock-screen
preview and every reader (people, SMS Retriever, WebOTP, `re.match(r"\\d+")` in tests) finds it there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

# "account": a code confirming a password reset or a change of phone number.
TextKind = Literal["signin", "verify", "account", "transaction"]
TEXT_KINDS: tuple[TextKind, ...] = ("signin", "verify", "account", "transaction")
PLACEHOLDER = re.compile(r"\{(code|org|minutes|amount|payee)\}")
ANY_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
REQUIRED: dict[str, tuple[str, ...]] = {
    "signin": ("code", "org"),
    "verify": ("code", "org"),
    "account": ("code", "org"),
    "transaction": ("code", "amount", "payee"),
    "voice": ("code",),
}


@dataclass(frozen=True, slots=True)
class LanguageTexts:
    """One language's texts. `voice_language` is the tag a voice provider speaks it with (`de-DE`)."""

    language: str
    name: str
    voice_language: str
    sms: Mapping[TextKind, str]
    voice: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every bundled language's texts, by primary language subtag (`de`, `tr`, …)."""

    languages: Mapping[str, LanguageTexts]

    def texts(self, language: str) -> LanguageTexts:
        """Raises: KeyError for a language without texts (callers choose among `languages`)."""
        return self.languages[language]


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace the placeholders in one pass: a value (a payee's name) that looks like a placeholder
    stays as written instead of being filled in a second time."""
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)


def problems(texts: LanguageTexts) -> list[str]:
    """What is wrong with one language's texts (empty: nothing); checked by the tests and the loader."""
    found: list[str] = []
    for kind in TEXT_KINDS:
        text = texts.sms.get(kind)
        if not text:
            found.append(f"{texts.language}: no {kind} SMS text")
            continue
        found += _placeholder_problems(texts.language, kind, text)
        if not text.startswith("{code}"):
            found.append(f"{texts.language}: the {kind} SMS text does not start with {{code}}")
    found += _placeholder_problems(texts.language, "voice", texts.voice)
    if not re.fullmatch(r"[a-z]{2,3}-[A-Z]{2}", texts.voice_language):
        found.append(f"{texts.language}: voice_language {texts.voice_language!r} is not like de-DE")
    return found


def _placeholder_problems(language: str, kind: str, text: str) -> list[str]:
    found = [
        f"{language}: the {kind} text lacks {{{name}}}"
        for name in REQUIRED[kind]
        if f"{{{name}}}" not in text
    ]
    unknown = [token for token in ANY_PLACEHOLDER.findall(text) if not PLACEHOLDER.fullmatch(token)]
    found += [f"{language}: the {kind} text has an unknown placeholder {token}" for token in unknown]
    if kind not in ("transaction", "voice") and ("{amount}" in text or "{payee}" in text):
        found.append(
            f"{language}: the {kind} text uses {{amount}} or {{payee}}, which only transactions have"
        )
    return found
