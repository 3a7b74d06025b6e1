"""The start-up check that every code text fits its SMS segment budget.

Each bundled text (every language, sign-in, verification and transaction) and each operator template
(TWOSTEP_SMS_TEMPLATE, TWOSTEP_VERIFY_TEMPLATE, per-tenant templates) is rendered as its longest
message: the longest code it can carry, the longest lifetime, the org name, the WebOTP line and the
app-hash line; then counted as the phone network will (GSM-7 or UCS-2). A text over budget stops
start-up with one line naming it, its language and its count. The notices of account changes (also
sent by SMS) are counted the same way against TWOSTEP_SMS_MAX_SEGMENTS_NOTICE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from twostep.domain.errors import ConfigurationError
from twostep.domain.identity import mask_email
from twostep.domain.locales import language_of
from twostep.domain.segments import Segments, count_segments
from twostep.domain.texts import NOTICE_KINDS, NoticeKind, TextKind
from twostep.services.texts import CodeTexts
from twostep.services.verification_input import LENGTH_RANGE
from twostep.settings import DEFAULT_SMS_TEMPLATE, DEFAULT_VERIFY_TEMPLATE, Settings, parse_language_budgets
from twostep.texts import bundled_catalogue

logger = logging.getLogger("twostep")

# A transaction text is measured with an everyday amount and payee; a longer payee adds to the real
# count, which the SMS caps and the money budget charge per message.
SAMPLE_AMOUNT, SAMPLE_PAYEE = "1249.90 EUR", "Example Shop"
# A notice names the new number (masked, at most 16 characters) or address (masked; an everyday one).
SAMPLE_DESTINATIONS: dict[NoticeKind, str] = {
    # mask_phone of the longest E.164 number (15 digits), written out: this check runs on every start,
    # and mask_phone would load phonenumbers there (~10 ms of a Lambda cold start); a test keeps them equal.
    "phone_changed": "+9" + "*" * 12 + "99",
    "email_changed": mask_email("firstname.lastname@example.com"),
    "password_changed": "",
    "password_reset": "",
    "sign_in_changed": "",
    "email_released": "",
}
KIND_NAMES: dict[TextKind, str] = {
    "signin": "sign-in",
    "verify": "verification",
    "account": "account change",
    "transaction": "transaction",
}


@dataclass(frozen=True, slots=True)
class _Longest:
    """The longest code and lifetime a text of one kind can carry under these settings."""

    code_length: int
    ttl_seconds: int


def code_texts(settings: Settings) -> CodeTexts:
    """The bundled texts with this deployment's org name, default language and autofill lines, checked.

    Raises: ConfigurationError (see `check_text_budgets`).
    """
    texts = CodeTexts(
        bundled_catalogue(),
        org=settings.org_name,
        default_locale=settings.default_locale,
        web_origin=settings.web_origin,
        app_hash=settings.android_app_hash,
    )
    check_text_budgets(settings, texts)
    return texts


def bundled_text(template: str, default: str, kind: TextKind) -> TextKind | None:
    """`kind` while the operator kept the default template (the bundled English text), else None: an
    operator's own template wins over the bundled texts."""
    return kind if template == default else None


def _longest(settings: Settings, kind: TextKind) -> _Longest:
    if kind in ("signin", "account"):  # both use the sign-in code settings
        return _Longest(settings.otp_length, settings.otp_ttl_seconds)
    # a verification request may ask for any code length and lifetime up to the bounds
    return _Longest(LENGTH_RANGE[1], settings.verify_max_ttl_seconds)


def _what(settings: Settings) -> str:
    extras = ["TWOSTEP_ORG_NAME"]
    if settings.web_origin:
        extras.append("the WebOTP line")
    if settings.android_app_hash:
        extras.append("the app hash")
    return ", ".join(extras)


def _over(name: str, segments: Segments, budget: int, remedy: str, settings: Settings) -> ConfigurationError:
    limit = 160 if segments.encoding == "gsm7" else 70
    encoding = "GSM-7" if segments.encoding == "gsm7" else "UCS-2"
    return ConfigurationError(
        f"{name} takes {segments.count} SMS segments ({encoding}, {segments.units} characters; one segment "
        f"holds {limit}) with the longest code and {_what(settings)}, over the budget of {budget}: {remedy}"
    )


def check_text_budgets(settings: Settings, texts: CodeTexts) -> None:
    """Raises: ConfigurationError naming the first text over its budget (and TWOSTEP_DEFAULT_LOCALE
    without bundled texts)."""
    budgets = parse_language_budgets(settings.sms_max_segments_by_language)
    if language_of(settings.default_locale) not in texts.languages:
        raise ConfigurationError(
            f"TWOSTEP_DEFAULT_LOCALE: no bundled texts for {settings.default_locale}; "
            f"use one of {', '.join(texts.languages)}"
        )
    unknown = [language for language in budgets if language not in texts.languages]
    if unknown:  # looked up by the bundled languages only: such an entry was never applied
        raise ConfigurationError(
            f"TWOSTEP_SMS_MAX_SEGMENTS_BY_LANGUAGE: no bundled texts for {unknown[0]}; "
            f"use one of {', '.join(texts.languages)}"
        )
    for language in texts.languages:
        for kind, name in KIND_NAMES.items():
            budget = budgets.get(language, settings.sms_max_segments)
            if kind == "transaction":
                budget = max(budget, settings.sms_max_segments_transaction)
            longest = _longest(settings, kind)
            transaction = (SAMPLE_AMOUNT, SAMPLE_PAYEE) if kind == "transaction" else (None, None)
            body = texts.sms(
                kind,
                language,
                code="9" * longest.code_length,
                ttl_seconds=longest.ttl_seconds,
                amount=transaction[0],
                payee=transaction[1],
            )
            segments = count_segments(body)
            if segments.count > budget:
                remedy = (
                    "raise TWOSTEP_SMS_MAX_SEGMENTS_TRANSACTION"
                    if kind == "transaction"
                    else f"raise TWOSTEP_SMS_MAX_SEGMENTS or set {language}:{segments.count} in "
                    "TWOSTEP_SMS_MAX_SEGMENTS_BY_LANGUAGE"
                )
                remedy += ", or shorten TWOSTEP_ORG_NAME"
                raise _over(f"the {language} {name} text", segments, budget, remedy, settings)
    _check_notices(settings, texts)
    for name, template, kind in _operator_templates(settings):
        longest = _longest(settings, kind)
        body = texts.render(template, code="9" * longest.code_length, ttl_seconds=longest.ttl_seconds)
        segments = count_segments(body)
        if segments.count > settings.sms_max_segments:
            remedy = "shorten it or raise TWOSTEP_SMS_MAX_SEGMENTS"
            raise _over(name, segments, settings.sms_max_segments, remedy, settings)
    _warn_retriever_limit(settings, budgets)


def _check_notices(settings: Settings, texts: CodeTexts) -> None:
    budget = settings.sms_max_segments_notice
    for language in texts.languages:
        for kind in NOTICE_KINDS:
            body = texts.notice(kind, language, destination=SAMPLE_DESTINATIONS[kind]).body
            segments = count_segments(body)
            if segments.count > budget:
                remedy = "raise TWOSTEP_SMS_MAX_SEGMENTS_NOTICE, or shorten TWOSTEP_ORG_NAME"
                name = f"the {language} {kind.replace('_', ' ')} notice"
                raise _over(name, segments, budget, remedy, settings)


def _operator_templates(settings: Settings) -> list[tuple[str, str, TextKind]]:
    """The operator's own texts (the defaults are the bundled English ones, checked above)."""
    found: list[tuple[str, str, TextKind]] = []
    if settings.sms_template != DEFAULT_SMS_TEMPLATE:
        found.append(("TWOSTEP_SMS_TEMPLATE", settings.sms_template, "signin"))
    if settings.verify_template != DEFAULT_VERIFY_TEMPLATE:
        found.append(("TWOSTEP_VERIFY_TEMPLATE", settings.verify_template, "verify"))
    for tenant, config in sorted(settings.verify_tenants.items()):
        if config.template:
            found.append((f"TWOSTEP_VERIFY_TENANTS: the template of {tenant}", config.template, "verify"))
    return found


def _warn_retriever_limit(settings: Settings, budgets: dict[str, int]) -> None:
    # Google's SMS Retriever reads messages of at most 140 bytes: one segment.
    if settings.android_app_hash and max([settings.sms_max_segments, *budgets.values()]) > 1:
        logger.warning(
            "TWOSTEP_ANDROID_APP_HASH is set but texts may take more than one SMS segment: "
            "SMS Retriever only reads messages of one segment (140 bytes)"
        )
