"""Rules every bundled language keeps against English: the same placeholders in every text (the one
allowance: a UCS-2 SMS may leave out the lifetime), and each language's own punctuation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest

from twostep.domain.texts import LanguageTexts
from twostep.texts import bundled_catalogue

CATALOGUE = bundled_catalogue()
ENGLISH = CATALOGUE.texts("en")
LANGUAGES = sorted(CATALOGUE.languages)
# A UCS-2 segment holds 70 characters: the sign-in and verification texts of these languages fit one
# with the longest code, the org name and a WebOTP line only without "it expires in N minutes"; the
# transaction texts fit two with the WebOTP line and the app hash only without it.
UCS2_LANGUAGES = {"tr", "ru", "ar", "ja"}
PLACEHOLDER = re.compile(r"\{[a-z]+\}")


def entries(texts: LanguageTexts) -> Iterator[tuple[str, str]]:
    """Every text of one language, named as in its file (`sms.signin`, `voice`, `email.code`, …)."""
    yield from ((f"sms.{kind}", text) for kind, text in texts.sms.items())
    yield "voice", texts.voice
    yield from ((f"email.{kind}", text) for kind, text in texts.email.items())
    yield from ((f"notice.{kind}", text) for kind, text in texts.notice.items())


def placeholder_differences(texts: LanguageTexts) -> list[str]:
    """Where a language's placeholders differ from those of the same English text."""
    english = dict(entries(ENGLISH))
    found = []
    for name, text in entries(texts):
        expected, own = (set(PLACEHOLDER.findall(each)) for each in (english[name], text))
        allowed = {"{minutes}"} if texts.language in UCS2_LANGUAGES and name.startswith("sms.") else set()
        if expected - own - allowed:
            found.append(f"{texts.language} {name} lacks {', '.join(sorted(expected - own - allowed))}")
        if own - expected:
            found.append(f"{texts.language} {name} adds {', '.join(sorted(own - expected))}")
    return found


# Punctuation that French sets apart with a space (a plain one: an SMS in GSM-7 has no no-break space).
FRENCH_SPACED = ":;?!"
# ASCII punctuation a language writes with its own marks instead.
OWN_MARKS = {
    "ja": {".": "。", ",": "、", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）"},  # noqa: RUF001
    "ar": {",": "،", "?": "؟", ";": "؛"},
}


def typography_problems(language: str, text: str) -> list[str]:
    """Where one text breaks its language's punctuation rules."""
    found = []
    if text != text.strip() or "  " in text:
        found.append("a leading, trailing or double space")
    if re.search(r" [.,]", text):
        found.append("a space before a full stop or comma")
    for ascii_mark, own in OWN_MARKS.get(language, {}).items():
        if ascii_mark in text:
            found.append(f"an ASCII {ascii_mark!r} where the language writes {own!r}")
    if language == "fr":
        found += [
            f"no space before {mark!r}"
            for mark in FRENCH_SPACED
            if re.search(rf"[^ ]{re.escape(mark)}", text)
        ]
    else:
        found += [f"a space before {mark!r}" for mark in FRENCH_SPACED if f" {mark}" in text]
    if language == "es":
        for opening, closing in (("¿", "?"), ("¡", "!")):
            if text.count(opening) != text.count(closing):
                found.append(f"{closing!r} without its opening {opening!r}")
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_has_the_placeholders_of_the_english_one(language: str) -> None:
    assert placeholder_differences(CATALOGUE.texts(language)) == []


def test_a_missing_or_extra_placeholder_is_found() -> None:
    german, russian = CATALOGUE.texts("de"), CATALOGUE.texts("ru")
    no_lifetime = replace(german, sms={**german.sms, "transaction": "{code} {org} {amount} {payee}"})
    assert placeholder_differences(no_lifetime) == ["de sms.transaction lacks {minutes}"]
    extra = replace(german, voice="Ihr Code für {org} lautet {code}, {minutes} Minuten gültig.")
    assert placeholder_differences(extra) == ["de voice adds {minutes}"]
    # The UCS-2 allowance is the lifetime of an SMS, nothing else and nowhere else.
    no_org = replace(russian, sms={**russian.sms, "signin": "{code} — ваш код."})
    assert placeholder_differences(no_org) == ["ru sms.signin lacks {org}"]
    email = replace(russian, email={**russian.email, "code": "{code} — ваш код {org}."})
    assert placeholder_differences(email) == ["ru email.code lacks {minutes}"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_keeps_its_languages_punctuation(language: str) -> None:
    found = {
        name: problems
        for name, text in entries(CATALOGUE.texts(language))
        if (problems := typography_problems(language, text))
    }
    assert found == {}


@pytest.mark.parametrize(
    ("language", "text", "problem"),
    [
        ("fr", "Date: ", "a leading, trailing or double space"),
        ("fr", "Date:", "no space before ':'"),
        ("fr", "Ce n'est pas vous?", "no space before '?'"),
        ("de", "Zeitpunkt :", "a space before ':'"),
        ("ar", "الوقت :", "a space before ':'"),
        ("en", "Not you ? Reset it .", "a space before a full stop or comma"),
        ("es", "{org}: ¿has sido tú? Restablece tu contraseña!", "'!' without its opening '¡'"),
        ("es", "{org}: has sido tu?", "'?' without its opening '¿'"),
        ("ja", "日時:", "an ASCII ':' where the language writes '：'"),  # noqa: RUF001
        ("ja", "{code} は {org} のコードです.", "an ASCII '.' where the language writes '。'"),
        ("ar", "إن لم تطلبه, تجاهل هذه الرسالة.", "an ASCII ',' where the language writes '،'"),
    ],
)
def test_a_broken_punctuation_rule_is_found(language: str, text: str, problem: str) -> None:
    assert problem in typography_problems(language, text)
