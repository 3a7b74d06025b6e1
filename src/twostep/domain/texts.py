"""The bundled texts of a code message, per language: what the SMS says and what a call reads aloud.

Placeholders: `{code}`, `{org}`, `{minutes}` (the code's lifetime), and for transaction texts
`{amount}` and `{payee}`. Every SMS text starts with the code, so it shows first in a lock-screen
preview and every reader (people, SMS Retriever, WebOTP, `re.match(r"\\d+")` in tests) finds it there.

Besides the code texts: `email` (the subject and body of an emailed code, the subject of a notice and
the labels of the lines that end its email: when and from where the change was made) and
`notice` (what an account change tells the owner, by SMS and email; `{destination}` is the new number
or address, masked).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

# "account": a code confirming a password reset or a change of phone number.
TextKind = Literal["signin", "verify", "account", "transaction"]
TEXT_KINDS: tuple[TextKind, ...] = get_args(TextKind)
# An emailed code's subject (`code_subject`, `reset_subject` for a password reset) and body (`code`),
# the subject of an account notice's email, and the labels of the block that ends a notice's email
# (when and from where the change was made: `origin_time`, `origin_device`, `origin_network`; the value
# `origin_unknown` when the request named no device or network; `origin_administrator`, the whole line
# for a change an operator made with the CLI).
EmailKind = Literal[
    "code_subject",
    "reset_subject",
    "code",
    "notice_subject",
    "origin_time",
    "origin_device",
    "origin_network",
    "origin_unknown",
    "origin_administrator",
]
EMAIL_KINDS: tuple[EmailKind, ...] = get_args(EmailKind)
# What an account change tells the owner (SMS and email body).
# `password_reset`: a forgotten password was replaced with a reset code (`password_changed`: on the account
# page). `sign_in_changed`: a way to sign in was added or removed (an authenticator app, a passkey, recovery
# codes).
NoticeKind = Literal[
    "phone_changed",
    "email_changed",
    "password_changed",
    "password_reset",
    "sign_in_changed",
    "email_released",
]
NOTICE_KINDS: tuple[NoticeKind, ...] = get_args(NoticeKind)
PLACEHOLDER = re.compile(r"\{(code|org|minutes|amount|payee|destination)\}")
ANY_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
REQUIRED: dict[str, tuple[str, ...]] = {
    "signin": ("code", "org"),
    "verify": ("code", "org"),
    "account": ("code", "org"),
    "transaction": ("code", "amount", "payee"),
    "voice": ("code",),
    "code": ("code", "org"),
    "code_subject": ("org",),
    "reset_subject": ("org",),
    "notice_subject": ("org",),
    "origin_time": (),
    "origin_device": (),
    "origin_network": (),
    "origin_unknown": (),
    "origin_administrator": (),
    "phone_changed": ("org", "destination"),
    "email_changed": ("org", "destination"),
    "password_changed": ("org",),
    "password_reset": ("org",),
    "sign_in_changed": ("org",),
    "email_released": ("org",),
}


@dataclass(frozen=True, slots=True)
class LanguageTexts:
    """One language's texts. `voice_language` is the tag a voice provider speaks it with (`de-DE`)."""

    language: str
    name: str
    voice_language: str
    sms: Mapping[TextKind, str]
    voice: str
    email: Mapping[EmailKind, str] = field(default_factory=dict)
    notice: Mapping[NoticeKind, str] = field(default_factory=dict)


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
    for group, kinds in (("email", EMAIL_KINDS), ("notice", NOTICE_KINDS)):
        entries: Mapping[str, str] = getattr(texts, group)
        for name in kinds:
            if not entries.get(name):
                found.append(f"{texts.language}: no {group} text {name}")
                continue
            found += _placeholder_problems(texts.language, name, entries[name])
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
    if kind not in ("phone_changed", "email_changed") and "{destination}" in text:
        found.append(f"{language}: the {kind} text uses {{destination}}, which only notices have")
    if kind in NOTICE_KINDS and "{code}" in text:
        found.append(f"{language}: the {kind} notice has a {{code}}, which notices never carry")
    return found
