"""What a code's message says: its texts in the reader's language (services/texts.py), written for its
channel (services/channel_texts.py), and what it costs of the money budget."""

from __future__ import annotations

from dataclasses import replace

from twostep.domain.delivery import OutgoingMessage
from twostep.domain.identity import E164
from twostep.domain.models import RequestContext
from twostep.services.channel_texts import budget_units, code_message
from twostep.services.code_spec import CodeSpec
from twostep.services.texts import CodeTexts, TextChoice


class CodeMessages:
    def __init__(
        self, *, texts: CodeTexts | None, org_name: str, web_origin: str | None, call_units: int
    ) -> None:
        self._texts = texts
        self._call_units = call_units  # a call's share of the money budget, in SMS segments
        self._org, self._web_origin = org_name, web_origin

    def wants_preference(self, ctx: RequestContext) -> bool:
        """Whether the account's stored language could matter (the request names no bundled language)."""
        return self._texts is not None and self._texts.needs_preference(ctx.locales)

    def localised(self, spec: CodeSpec, phone: E164, ctx: RequestContext) -> CodeSpec:
        """The spec with its texts in the reader's language (see services/texts.py)."""
        if self._texts is None:
            return spec
        choice = TextChoice(ctx.locales, spec.preferred_locale, phone)
        texts = self._texts.localise(spec.text, spec.template, choice, amount=spec.amount, payee=spec.payee)
        return replace(
            spec,
            template=texts.template,
            voice_template=texts.voice_template,
            language=texts.voice_language,
            text_language=texts.language,
        )

    def units(self, message: OutgoingMessage) -> int:
        """What `message` takes from the money budget, in SMS segments."""
        return budget_units(message, self._call_units)

    def message(self, phone: E164, spec: CodeSpec, code: str) -> OutgoingMessage:
        """The message carrying `code` to `phone` by `spec.channel`."""
        return code_message(
            to=phone,
            code=code,
            channel=spec.channel,
            sms_template=spec.template,
            voice_template=spec.voice_template,
            language=spec.language,
            org=self._org,
            ttl_seconds=spec.ttl_seconds,
            web_origin=self._web_origin,
            app_hash=self._texts.app_hash if self._texts is not None else None,
        )
