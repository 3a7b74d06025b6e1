"""What a new one-time code looks like and says (`CodeSpec`), shared by every way a code is issued."""

from __future__ import annotations

from dataclasses import dataclass

from twostep.domain.delivery import DEFAULT_LANGUAGE, SMS
from twostep.domain.texts import TextKind
from twostep.services.channel_texts import DEFAULT_VOICE_TEMPLATE


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """What a new code looks like and says."""

    length: int
    ttl_seconds: int
    max_attempts: int
    template: str
    channel: str = SMS  # what the code goes by: `sms`, `voice`, `whatsapp` (the registry's names)
    language: str = DEFAULT_LANGUAGE  # how a voice call speaks it
    voice_template: str = DEFAULT_VOICE_TEMPLATE
    binding: str = ""  # bound into the code's HMAC (a transaction's canonical encoding); "" binds nothing
    # The bundled text this code uses (services/texts.py), in the reader's language: it replaces
    # `template`, `voice_template` and `language`. None: `template` is the operator's own, sent as it is.
    text: TextKind | None = None
    preferred_locale: str | None = None  # the account's stored language, a step of the locale chain
    # The bundled language the chain chose (set with `text`'s texts); kept on the delivery record, so a
    # fallback after a failed text uses the same one. None: not localised (a service without texts).
    text_language: str | None = None
    amount: str | None = None  # with `payee`: a transaction code's details, filled into its text
    payee: str | None = None
