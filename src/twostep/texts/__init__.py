"""The bundled texts: one JSON file per language beside this module (`de.json`, `tr.json`, …), read once.

A file holds `name`, `voice_language` (the tag a voice call speaks it with), `sms` (`signin`, `verify`,
`account`, `transaction`), `voice`, `email` (an emailed code's subjects and body, a notice's subject and
the labels of its origin lines) and `notice` (what an account change tells the owner). Adding a language
is adding a file; `problems` says what a file lacks.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from twostep.domain.errors import ConfigurationError
from twostep.domain.texts import EMAIL_KINDS, NOTICE_KINDS, TEXT_KINDS, Catalogue, LanguageTexts, problems


def _language(language: str, document: dict[str, Any]) -> LanguageTexts:
    sms, email, notice = (document.get(group, {}) for group in ("sms", "email", "notice"))
    return LanguageTexts(
        language=language,
        name=str(document.get("name", language)),
        voice_language=str(document.get("voice_language", "")),
        sms={kind: str(sms[kind]) for kind in TEXT_KINDS if kind in sms},
        voice=str(document.get("voice", "")),
        email={kind: str(email[kind]) for kind in EMAIL_KINDS if kind in email},
        notice={kind: str(notice[kind]) for kind in NOTICE_KINDS if kind in notice},
    )


@cache
def bundled_catalogue() -> Catalogue:
    """Every bundled language, read from the package once per process.

    Raises:
        ConfigurationError: a file is unreadable or incomplete (a broken installation).
    """
    languages: dict[str, LanguageTexts] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda item: item.name):
        if not entry.name.endswith(".json"):
            continue
        language = entry.name.removesuffix(".json")
        try:
            texts = _language(language, json.loads(entry.read_text(encoding="utf-8")))
        except (OSError, ValueError, AttributeError) as exc:
            raise ConfigurationError(f"the bundled texts for {language} cannot be read: {exc}") from None
        wrong = problems(texts)
        if wrong:
            raise ConfigurationError(f"the bundled texts are incomplete: {wrong[0]}")
        languages[language] = texts
    if not languages:
        raise ConfigurationError("no bundled texts were found: the installation is incomplete")
    return Catalogue(languages)
