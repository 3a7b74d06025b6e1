"""The bundled texts: every language has every text with its placeholders, each fits its segment budget
in the encoding it needs, and the autofill lines suit both WebOTP and SMS Retriever."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from twostep.domain.delivery import OutgoingMessage
from twostep.domain.segments import count_segments, is_gsm7
from twostep.domain.texts import (
    EMAIL_KINDS,
    NOTICE_KINDS,
    REQUIRED,
    TEXT_KINDS,
    LanguageTexts,
    fill,
    problems,
)
from twostep.services.channel_texts import code_message
from twostep.services.notice_origin import NoticeOrigin
from twostep.services.texts import RIGHT_TO_LEFT, RIGHT_TO_LEFT_MARK, CodeTexts, TextChoice
from twostep.settings import DEFAULT_SMS_TEMPLATE, DEFAULT_VERIFY_TEMPLATE
from twostep.texts import bundled_catalogue

CATALOGUE = bundled_catalogue()
LANGUAGES = sorted(CATALOGUE.languages)
# Texts written without characters outside GSM 03.38, so a segment holds 160 characters.
GSM7_LANGUAGES = {"en", "de", "fr", "es", "it", "pt", "nl", "pl"}
# Texts that need letters GSM-7 lacks (Turkish ş ğ ı, Cyrillic, Arabic, Japanese): 70 a segment.  # noqa: RUF003
UCS2_LANGUAGES = {"tr", "ru", "ar", "ja"}
HASH = "FA+9qCX9VSu"
# Chromium's WebOTP parser (content/browser/sms/sms_parser.cc), applied to the last line as the spec says.
WEBOTP = re.compile(r"(?:^|\s)@([a-zA-Z0-9.-]+) #([^#\s]+)(?: %([a-zA-Z0-9.-]+))?")


def texts(web_origin: str | None = None, app_hash: str | None = None, org: str = "twostep") -> CodeTexts:
    return CodeTexts(CATALOGUE, org=org, default_locale="en", web_origin=web_origin, app_hash=app_hash)


def test_at_least_ten_languages_with_non_latin_scripts() -> None:
    assert len(LANGUAGES) >= 10
    assert {"en", "de", "tr", "fr", "es", "it", "pt", "nl", "pl"} <= set(LANGUAGES)
    assert {"ru", "ar", "ja"} <= set(LANGUAGES)
    assert set(LANGUAGES) == GSM7_LANGUAGES | UCS2_LANGUAGES


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_text_with_its_placeholders(language: str) -> None:
    entry = CATALOGUE.texts(language)
    assert problems(entry) == []
    for kind in TEXT_KINDS:
        for name in REQUIRED[kind]:
            assert f"{{{name}}}" in entry.sms[kind]
        assert entry.sms[kind].startswith("{code}")  # shown first in a notification preview
    assert "{code}" in entry.voice
    assert re.fullmatch(r"[a-z]{2}-[A-Z]{2}", entry.voice_language)


def test_problems_names_what_a_language_lacks() -> None:
    broken = LanguageTexts(
        "xx",
        "Broken",
        "xx",
        {
            "signin": "Your code: {code}",
            "verify": "{code} {org} {payee}",
            "transaction": "{code} {amount} {bogus}",
        },
        "no code here",
    )
    found = problems(broken)
    assert "xx: the signin text lacks {org}" in found
    assert "xx: the signin SMS text does not start with {code}" in found
    assert any("verify text uses {amount} or {payee}" in line for line in found)
    assert "xx: the transaction text lacks {payee}" in found
    assert "xx: the transaction text has an unknown placeholder {bogus}" in found
    assert "xx: the voice text lacks {code}" in found
    assert any("voice_language" in line for line in found)


def test_english_is_the_default_template_so_existing_deployments_read_the_same() -> None:
    english = CATALOGUE.texts("en").sms
    assert (english["signin"], english["verify"]) == (DEFAULT_SMS_TEMPLATE, DEFAULT_VERIFY_TEMPLATE)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_encoding_and_one_segment_with_the_longest_code(language: str, kind: str) -> None:
    """Default settings: sign-in codes of 6 digits for 2 minutes, verification codes of up to 10 for 10."""
    code, ttl = ("123456", 120) if kind == "signin" else ("1234567890", 600)
    extra = {"amount": "1249.90 EUR", "payee": "Example Shop"} if kind == "transaction" else {}
    body = texts().sms(kind, language, code=code, ttl_seconds=ttl, **extra)  # type: ignore[arg-type]
    segments = count_segments(body)
    assert segments.encoding == ("gsm7" if language in GSM7_LANGUAGES else "ucs2"), body
    assert segments.count <= (2 if kind == "transaction" else 1), (language, segments)


@pytest.mark.parametrize("language", LANGUAGES)
def test_code_texts_fit_one_segment_with_a_web_origin(language: str) -> None:
    for kind, code in (("signin", "123456"), ("verify", "1234567890")):
        body = texts("https://auth.example.com").sms(kind, language, code=code, ttl_seconds=600)  # type: ignore[arg-type]
        assert count_segments(body).count == 1, (language, kind, count_segments(body))


@pytest.mark.parametrize("language", sorted(GSM7_LANGUAGES))
def test_latin_script_payment_texts_are_one_segment_with_a_web_origin(language: str) -> None:
    """A payment's text costs one SMS where the language's letters are GSM-7: the longest code, its
    lifetime and an everyday amount and payee, with the WebOTP line (a longer payee may take two)."""
    body = texts("https://auth.example.com").sms(
        "transaction",
        language,
        code="1234567890",
        ttl_seconds=600,
        amount="1249.90 EUR",
        payee="Example Shop",
    )
    assert count_segments(body).count == 1, (language, count_segments(body))


def test_german_stays_gsm7_and_turkish_is_written_with_its_own_letters() -> None:
    german = texts().sms("signin", "de", code="123456", ttl_seconds=120)
    assert is_gsm7(german) and "gültig" in german  # ä ö ü ß are in GSM 03.38
    turkish = texts().sms("signin", "tr", code="123456", ttl_seconds=120)
    assert not is_gsm7(turkish) and "ş" in turkish and "ı" in turkish  # noqa: RUF001
    assert count_segments(turkish).units <= 70


def spoken(catalogue: CodeTexts, language: str, code: str) -> OutgoingMessage:
    """What a call says, by the path a live code takes: `localise`, then `code_message`."""
    chosen = catalogue.localise("signin", DEFAULT_SMS_TEMPLATE, TextChoice(requested=(language,)))
    return code_message(
        to="+4915112345678",
        code=code,
        channel="voice",
        sms_template=chosen.template,
        voice_template=chosen.voice_template,
        language=chosen.voice_language,
        org="Acme",
        ttl_seconds=600,
        web_origin="https://auth.example.com",
    )


def test_voice_text_spaces_the_digits_and_names_its_language() -> None:
    call = spoken(texts(org="Acme"), "de", "048213")
    assert call.language == "de-DE"
    assert call.text == "Ihr Code für Acme lautet 0, 4, 8, 2, 1, 3."  # digits one by one, no WebOTP line
    assert spoken(texts(), "tr", "1234").language == "tr-TR"


def test_transaction_values_fill_in_once_and_never_add_a_placeholder() -> None:
    body = texts().sms(
        "transaction", "en", code="123456", ttl_seconds=600, amount="49.90 EUR", payee="{code} Shop {org}"
    )
    assert body.startswith(
        "123456 is your twostep code to pay 49.90 EUR to code Shop org. It expires in 10 minutes."
    )
    assert fill("{code} {payee}", {"payee": "{code}"}) == "{code} {code}"  # one pass: no second fill


def test_webotp_and_app_hash_share_the_last_line() -> None:
    body = texts("https://auth.example.com:8443/x", HASH).sms("signin", "tr", code="123456", ttl_seconds=120)
    last = body.splitlines()[-1]
    assert last == f"@auth.example.com #123456 {HASH}"
    match = WEBOTP.match(last)  # WebOTP: the last line starts with @domain #code; trailing text ignored
    assert match is not None and match.groups()[:2] == ("auth.example.com", "123456")
    assert body.endswith(HASH)  # SMS Retriever: the 11-character hash ends the message
    alone = texts(app_hash=HASH).sms("signin", "de", code="123456", ttl_seconds=120)
    assert alone.splitlines()[-1] == HASH and alone.startswith("123456 ist Ihr Anmeldecode")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_its_email_and_notice_texts(language: str) -> None:
    entry = CATALOGUE.texts(language)
    assert set(entry.email) == set(EMAIL_KINDS) and set(entry.notice) == set(NOTICE_KINDS)
    letter = texts().email_code(language, code="123456", ttl_seconds=120)
    assert "123456" in letter.body and "2" in letter.body and "{" not in letter.body + letter.subject
    assert letter.subject != texts().email_code(language, code="1", ttl_seconds=60, reset=True).subject
    for kind in NOTICE_KINDS:
        notice = texts().notice(kind, language, destination="+90********55")
        assert "{" not in notice.body + notice.subject and "twostep" in notice.body
        # A notice is an SMS too: the GSM-7 languages stay GSM-7, so a segment holds 160 characters.
        assert is_gsm7(notice.body) == (language in GSM7_LANGUAGES), (kind, notice.body)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_notice_text_reads_in_its_languages_direction(language: str) -> None:
    """A phone gives a text the direction of its first letter: the Arabic notices start with the org's
    Latin name ("twostep: ..."), so they read left to right, their sentences in the wrong order. A
    right-to-left language's notice text now starts with a right-to-left mark, as its emails do; the
    code texts need none (the code, then Arabic), and left-to-right languages get no mark to pay for."""
    for kind in NOTICE_KINDS:
        body = texts().notice(kind, language, destination="+90********55").body
        assert body.startswith(RIGHT_TO_LEFT_MARK) == (language in RIGHT_TO_LEFT), (kind, body)
    if language in RIGHT_TO_LEFT:
        code_text = texts().sms("signin", language, code="123456", ttl_seconds=120)
        first_strong = next(char for char in code_text if unicodedata.bidirectional(char) in ("L", "R", "AL"))
        assert unicodedata.bidirectional(first_strong) in ("R", "AL")


@pytest.mark.parametrize("language", [language for language in LANGUAGES if language != "en"])
def test_every_language_labels_a_notices_origin_in_its_own_words(language: str) -> None:
    at = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)
    english, own = (
        texts().notice("password_reset", chosen, destination="", origin=NoticeOrigin(at, "curl")).body
        for chosen in ("en", language)
    )
    labels = CATALOGUE.texts(language).email
    # A label and its value are one space apart, but for a full-width colon, which carries its own; each
    # line of a right-to-left language's email starts with a right-to-left mark.
    gap = "" if language == "ja" else " "
    mark = RIGHT_TO_LEFT_MARK if language in RIGHT_TO_LEFT else ""
    assert own.rpartition("\n\n")[2].splitlines() == [
        f"{mark}{labels['origin_time']}{gap}2026-12-02 14:05 UTC",
        f"{mark}{labels['origin_device']}{gap}curl",
        f"{mark}{labels['origin_network']}{gap}{labels['origin_unknown']}",
    ]
    assert not set(own.splitlines()[-3:]) & set(english.splitlines())  # translated, not the English lines
    administrator = NoticeOrigin(at, by_administrator=True)
    last = texts().notice("password_reset", language, destination="", origin=administrator).body
    assert last.splitlines()[-1] == mark + labels["origin_administrator"]
    colon = "：" if language == "ja" else ":"  # noqa: RUF001
    for label in ("origin_time", "origin_device", "origin_network", "origin_administrator"):
        assert colon in labels[label], label  # each label brings its own colon


def test_problems_names_a_missing_email_or_notice_text_and_misplaced_placeholders() -> None:
    english = CATALOGUE.texts("en")
    broken = replace(
        english,
        email={**english.email, "code": "Your code is {destination}"},
        notice={"phone_changed": "{org}: it changed, {code}."},
    )
    found = problems(broken)
    assert "en: the code text lacks {code}" in found
    assert "en: the code text uses {destination}, which only notices have" in found
    assert "en: the phone_changed text lacks {destination}" in found
    assert "en: the phone_changed notice has a {code}, which notices never carry" in found
    assert "en: no notice text email_changed" in found
