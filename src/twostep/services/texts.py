"""Code texts in the reader's language: the locale chain picks the language, the bundled catalogue the
words; an operator's own template (TWOSTEP_SMS_TEMPLATE, a tenant's, a request's `message`) wins.

The language of a code message is, in order: the request's `locale` (or `Accept-Language`), the
account's stored preference, the language of the number's country, TWOSTEP_DEFAULT_LOCALE. Emailed
codes and the notices of account changes follow the same chain (the account's number, if any, gives
the country).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twostep.domain.identity import phone_country
from twostep.domain.locales import choose_language, language_of
from twostep.domain.otp import render_message
from twostep.domain.texts import Catalogue, NoticeKind, TextKind, fill
from twostep.services.notice_origin import NoticeOrigin, origin_block

# Languages written right to left. Each line of their emails and notice texts starts with a right-to-left
# mark: a mail client or a phone gives a line of plain text the direction of its first letter (Unicode's
# rule, HTML's `dir=auto`), and a notice starting with a Latin org name ("twostep: ...") read left to
# right, its Arabic sentences in the wrong order. Code texts start with the code, then Arabic: right to left.
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur"})
RIGHT_TO_LEFT_MARK = "\u200f"


@dataclass(frozen=True, slots=True)
class Localised:
    """A code's texts in the chosen language: the SMS template (`{amount}`/`{payee}` filled in), the
    voice template, the tag a call speaks it with, and the chosen language itself (`de`)."""

    template: str
    voice_template: str
    voice_language: str
    language: str


@dataclass(frozen=True, slots=True)
class Letter:
    """An email's subject and body; a notice's body (without its origin) is also the SMS that tells the
    owner."""

    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class TextChoice:
    """The inputs of the locale chain for one message."""

    requested: Sequence[str] = ()  # the request's `locale` first, then `Accept-Language`, best first
    preferred: str | None = None  # the account's stored preference
    phone: str | None = None  # its country's language is the next step


class CodeTexts:
    """Bundled texts, the locale chain, and the lines that let phones and browsers fill the code in."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        org: str,
        default_locale: str,
        web_origin: str | None = None,
        app_hash: str | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._org, self._web_origin, self._app_hash = org, web_origin, app_hash
        self._default = language_of(default_locale)

    @property
    def app_hash(self) -> str | None:
        """The Android SMS Retriever hash that ends every code SMS (None: none)."""
        return self._app_hash

    @property
    def languages(self) -> tuple[str, ...]:
        """The bundled languages (primary subtags)."""
        return tuple(self._catalogue.languages)

    def language_for(self, choice: TextChoice) -> str:
        """The first language of the chain that has bundled texts."""
        country = phone_country(choice.phone) if choice.phone else None
        candidates = [*choice.requested, choice.preferred]
        return choose_language(candidates, country, self._catalogue.languages, self._default)

    def needs_preference(self, requested: Sequence[str]) -> bool:
        """False when the request already names a bundled language (the stored preference is not read)."""
        return not any(language_of(tag) in self._catalogue.languages for tag in requested)

    def localise(
        self,
        kind: TextKind | None,
        operator_template: str,
        choice: TextChoice,
        *,
        amount: str | None = None,
        payee: str | None = None,
    ) -> Localised:
        """The texts of one code message: the language is chosen once for the SMS and the call."""
        language = self.language_for(choice)
        voice, voice_language = self.voice_template(language)
        if kind is None:  # the operator's own text wins over the bundled ones
            template = self.with_transaction(operator_template, amount, payee)
        else:
            chosen: TextKind = "transaction" if amount is not None and payee is not None else kind
            template = self.with_transaction(self.sms_template(chosen, language), amount, payee)
        return Localised(template, voice, voice_language, language)

    def sms_template(self, kind: TextKind, language: str) -> str:
        """The bundled SMS text of `kind` in `language` (placeholders unfilled).

        Raises: KeyError for a language without texts (pick one with `language_for`).
        """
        return self._catalogue.texts(language).sms[kind]

    def sms(
        self,
        kind: TextKind,
        language: str,
        *,
        code: str,
        ttl_seconds: int,
        amount: str | None = None,
        payee: str | None = None,
    ) -> str:
        """The whole SMS: the bundled text filled in, then the WebOTP and app-hash lines."""
        template = self.with_transaction(self.sms_template(kind, language), amount, payee)
        return self.render(template, code=code, ttl_seconds=ttl_seconds)

    def render(self, template: str, *, code: str, ttl_seconds: int) -> str:
        """Any SMS template (bundled or the operator's) with the code, org and lifetime filled in and the
        autofill lines (WebOTP, Android SMS Retriever) appended."""
        return render_message(
            template,
            code=code,
            org=self._org,
            ttl_seconds=ttl_seconds,
            web_origin=self._web_origin,
            app_hash=self._app_hash,
        )

    @staticmethod
    def with_transaction(template: str, amount: str | None, payee: str | None) -> str:
        """`{amount}` and `{payee}` filled in first, in one pass; braces in the values are dropped, so a
        payee can never add a placeholder that a later step would fill (the code, say)."""
        if amount is None and payee is None:
            return template
        values = {
            name: value.replace("{", "").replace("}", "")
            for name, value in (("amount", amount), ("payee", payee))
            if value is not None
        }
        return fill(template, values)

    def email_code(self, language: str, *, code: str, ttl_seconds: int, reset: bool = False) -> Letter:
        """An emailed code in `language` (`reset`: a password reset's subject). No autofill lines: no
        browser or app reads them from an email."""
        email = self._catalogue.texts(language).email
        subject = email["reset_subject"] if reset else email["code_subject"]
        body = render_message(
            email["code"], code=code, org=self._org, ttl_seconds=ttl_seconds, web_origin=None
        )
        return _directed(Letter(fill(subject, {"org": self._org}), body), language)

    def notice(
        self, kind: NoticeKind, language: str, *, destination: str, origin: NoticeOrigin | None = None
    ) -> Letter:
        """What an account change tells its owner in `language`; `destination` (the new number or
        address) must already be masked. `origin`: the email's body ends with when and from where the
        change was made (a text's body never does: its length is its cost). In a right-to-left language
        each line starts with a right-to-left mark (`RIGHT_TO_LEFT`), in the email and the text."""
        texts = self._catalogue.texts(language)
        body = fill(texts.notice[kind], {"org": self._org, "destination": destination})
        subject = fill(texts.email["notice_subject"], {"org": self._org})
        if origin is not None:
            body = f"{body}\n\n{origin_block(origin, texts.email)}"
        # The text is marked too: a phone gives it the direction of its first letter, and an Arabic notice
        # starts with the org's Latin name. One character of a UCS-2 text's 70; the budget check counts it.
        return _directed(Letter(subject, body), language)

    def voice_template(self, language: str) -> tuple[str, str]:
        """The bundled voice text of `language` (placeholders unfilled) and the tag to speak it with."""
        texts = self._catalogue.texts(language)
        return texts.voice, texts.voice_language


def _directed(letter: Letter, language: str) -> Letter:
    """`letter`, each line of a right-to-left language's starting with a right-to-left mark."""
    if language not in RIGHT_TO_LEFT:
        return letter

    def mark(text: str) -> str:
        return "\n".join(RIGHT_TO_LEFT_MARK + line if line else line for line in text.split("\n"))

    return Letter(mark(letter.subject), mark(letter.body))
