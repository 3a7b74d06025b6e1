"""Twilio Programmable Voice: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` with inline `Twiml`.

The call speaks the text twice (`<Say>` in the message's language, a pause between), so a person who
missed a digit hears it again. The text is whatever the caller rendered (see `services/channel_texts`):
the code spelled out digit by digit, so the speech engine never reads "123456" as one number.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from twostep.domain.delivery import DEFAULT_LANGUAGE, OutgoingMessage
from twostep.settings import Settings
from twostep.sms import http as shared
from twostep.sms.twilio import PROVIDER, TwilioAccount

if TYPE_CHECKING:
    from twostep.sms import SenderDeps

# A BCP 47 language tag as Twilio's <Say language> takes it (`de-DE`, `tr-TR`, `pt-BR`, `en`).
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}")
# A code call needs well under a minute; the cap bounds what a call to an expensive number can cost.
TIME_LIMIT_SECONDS = 60
TIMES_SPOKEN = 2


def twiml(text: str, language: str) -> str:
    """The TwiML document that speaks `text` `TIMES_SPOKEN` times in `language`."""
    tag = language if LANGUAGE_TAG.fullmatch(language) else DEFAULT_LANGUAGE
    say = f"<Say language={quoteattr(tag)}>{escape(text)}</Say>"
    return "<Response>" + '<Pause length="1"/>'.join([say] * TIMES_SPOKEN) + "</Response>"


class TwilioVoiceSender:
    name = PROVIDER

    def __init__(self, account: TwilioAccount, from_number: str) -> None:
        self._account = account
        self._from = from_number

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> TwilioVoiceSender:
        """Raises: ConfigurationError for a From that is not E.164 (presence is checked at start-up)."""
        from_number = shared.e164_number(
            shared.configured(settings.twilio_voice_from), "TWOSTEP_TWILIO_VOICE_FROM"
        )
        return cls(TwilioAccount.from_settings(settings, deps), from_number)

    def send_message(self, message: OutgoingMessage) -> str:
        """Place the call; returns Twilio's call `sid` (Twilio reports how it ended, e.g. busy or no-answer,
        to the status callback). Raises: SmsDeliveryError."""
        form = {
            "To": message.to,
            "From": self._from,
            "Twiml": twiml(message.text, message.language),
            "TimeLimit": str(TIME_LIMIT_SECONDS),
        }
        return self._account.post("Calls.json", form)
