"""The locale chain (request, account, number's country, default), language tags, Accept-Language,
and the start-up check of every text against its segment budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import settings_for_tests
from twostep.domain.errors import ConfigurationError, InvalidInput
from twostep.domain.locales import accepted_languages, choose_language, normalise_locale
from twostep.services.texts import CodeTexts, TextChoice
from twostep.settings import describe_validation_error
from twostep.text_budget import code_texts
from twostep.texts import bundled_catalogue

AVAILABLE = set(bundled_catalogue().languages)
DE, TR, US, SE = "+4915112345678", "+905551112233", "+14155552671", "+46701234567"


@pytest.mark.parametrize(
    ("candidates", "phone_country", "expected"),
    [
        ((), "DE", "de"),
        ((), "TR", "tr"),
        ((), "AT", "de"),
        ((), "BR", "pt"),
        ((), "SE", "en"),  # no Swedish texts: the default
        ((), None, "en"),
        (("fr",), "DE", "fr"),  # the request wins
        (("sv", "de-CH"), "TR", "de"),  # a language without texts falls through to the next tag
        ((None, "ja"), "DE", "ja"),  # no request language: the account's
        (("es", "ja"), "DE", "es"),  # the request beats the account
        (("sv", None), "SE", "en"),
        (("PT-br",), None, "pt"),
    ],
)
def test_choose_language(
    candidates: tuple[str | None, ...], phone_country: str | None, expected: str
) -> None:
    assert choose_language(candidates, phone_country, AVAILABLE, "en") == expected


def test_the_chain_through_code_texts() -> None:
    texts = CodeTexts(bundled_catalogue(), org="x", default_locale="nl")
    assert texts.language_for(TextChoice(phone=DE)) == "de"
    assert texts.language_for(TextChoice(phone=TR)) == "tr"
    assert texts.language_for(TextChoice(phone=SE)) == "nl"  # the configured default
    assert texts.language_for(TextChoice(preferred="it", phone=DE)) == "it"
    assert texts.language_for(TextChoice(requested=("pl",), preferred="it", phone=DE)) == "pl"
    assert texts.needs_preference(("sv",)) and not texts.needs_preference(("sv", "tr-TR"))


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("de", "de"), ("pt-br", "pt-BR"), ("zh_hant_tw", "zh-Hant-TW"), (" TR ", "tr"), ("es-419", "es-419")],
)
def test_normalise_locale(raw: str, canonical: str) -> None:
    assert normalise_locale(raw) == canonical


@pytest.mark.parametrize("raw", ["", "d", "deutsch-de", "de DE", "12", "en-", "*", "de;q=1", "x" * 40, "ü"])
def test_malformed_locales_are_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_locale(raw)
    assert caught.value.field == "locale"


def test_accept_language_is_ordered_by_quality_and_never_fails() -> None:
    assert accepted_languages("da, en-GB;q=0.8, en;q=0.7") == ("da", "en-GB", "en")
    assert accepted_languages("en;q=0.2, tr;q=0.9, *;q=0.1, de;q=0") == ("tr", "en")
    assert accepted_languages("fr;q=abc, ###, ja") == ("ja",)
    assert accepted_languages(None) == () == accepted_languages("")
    assert len(accepted_languages(",".join(["de"] * 1000))) == 16


def build_texts(tmp_path: Path, **overrides: Any) -> CodeTexts:
    return code_texts(settings_for_tests(tmp_path, **overrides))


def test_default_settings_pass_the_segment_check(tmp_path: Path) -> None:
    assert set(build_texts(tmp_path).languages) == AVAILABLE
    build_texts(tmp_path, web_origin="https://auth.example.com")  # one segment each, with the WebOTP line


def test_an_over_budget_language_stops_start_up_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_texts(tmp_path, web_origin="https://auth.example.com", android_app_hash="FA+9qCX9VSu")
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("the ar sign-in text takes 2 SMS segments (UCS-2, 80 characters")
    assert "TWOSTEP_SMS_MAX_SEGMENTS_BY_LANGUAGE" in message
    # allowed two segments in the languages that need UCS-2, the same settings start
    build_texts(
        tmp_path,
        web_origin="https://auth.example.com",
        android_app_hash="FA+9qCX9VSu",
        sms_max_segments_by_language="ar:2,ja:2,ru:2,tr:2",
    )


def test_a_long_org_name_pushes_a_text_over(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^the ar sign-in text takes 2 SMS segments"):
        build_texts(tmp_path, org_name="The Very Long Example Bank Of Anywhere")
    build_texts(tmp_path, org_name="The Very Long Example Bank Of Anywhere", sms_max_segments=2)


def test_an_over_budget_operator_template_stops_start_up(tmp_path: Path) -> None:
    long_text = "{code} is your code. " + "Please read this carefully. " * 6
    with pytest.raises(ConfigurationError, match=r"^TWOSTEP_SMS_TEMPLATE takes 2 SMS segments \(GSM-7"):
        build_texts(tmp_path, sms_template=long_text)
    tenants = {"shop": {"template": "{code} 🔐 " + "Ünïcödé ✓ " * 7}}
    with pytest.raises(ConfigurationError, match=r"^TWOSTEP_VERIFY_TENANTS: the template of shop takes 2"):
        build_texts(tmp_path, verify_tenants=tenants)
    build_texts(tmp_path, sms_template="{code} is your {org} code.")


def test_default_locale_must_have_texts(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TWOSTEP_DEFAULT_LOCALE: no bundled texts for sv"):
        build_texts(tmp_path, default_locale="sv")
    assert build_texts(tmp_path, default_locale="de-AT").language_for(TextChoice(phone=SE)) == "de"
    assert build_texts(tmp_path, default_locale="pt_BR").language_for(TextChoice(phone=SE)) == "pt"


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            {"android_app_hash": "short"},
            "TWOSTEP_ANDROID_APP_HASH: the SMS Retriever app hash is 11 characters",
        ),
        ({"android_app_hash": "FA+9qCX9VS!"}, "TWOSTEP_ANDROID_APP_HASH: the SMS Retriever app hash is 11"),
        ({"default_locale": "english!"}, "TWOSTEP_DEFAULT_LOCALE: 'english!' is not a language tag"),
        ({"sms_max_segments_by_language": "tr:0"}, "TWOSTEP_SMS_MAX_SEGMENTS_BY_LANGUAGE: 'tr:0' is not"),
        ({"sms_max_segments": 0}, "TWOSTEP_SMS_MAX_SEGMENTS: Input should be greater than or equal to 1"),
    ],
)
def test_settings_are_validated(tmp_path: Path, overrides: dict[str, Any], line: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_for_tests(tmp_path, **overrides)
    assert describe_validation_error(caught.value).startswith(line)


def test_an_over_budget_notice_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_texts(tmp_path, sms_max_segments_notice=1)
    message = caught.value.message
    assert message.startswith("the ar phone changed notice takes 2 SMS segments (UCS-2"), message
    assert "TWOSTEP_SMS_MAX_SEGMENTS_NOTICE" in message and "\n" not in message
    with pytest.raises(ConfigurationError, match=r"^the ar email changed notice takes 3 SMS segments"):
        build_texts(
            tmp_path,
            org_name="The Very Long Example Bank Of Anywhere",
            sms_max_segments=2,
            sms_max_segments_notice=2,
        )


@pytest.mark.parametrize("entry", ["pt-BR:1", "sv:2"])
def test_a_segment_budget_for_a_language_without_texts_stops_start_up(tmp_path: Path, entry: str) -> None:
    """Budgets are looked up by the bundled texts' languages (`pt`), so `pt-BR:1` or `sv:2` was taken and
    never applied: a Portuguese text held to one segment could still take two. Now the start stops."""
    with pytest.raises(ConfigurationError) as caught:
        build_texts(tmp_path, sms_max_segments=2, sms_max_segments_by_language=entry)
    language = entry.partition(":")[0].lower()
    assert caught.value.message.startswith(
        f"TWOSTEP_SMS_MAX_SEGMENTS_BY_LANGUAGE: no bundled texts for {language}; use one of ar, de, en"
    )
