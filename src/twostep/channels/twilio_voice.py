"""Twilio Programmable Voice: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` with inline `Twiml`.

The call speaks the text twice (`<Say>` in the message's language, a pause between), so a person who
missed a digit hears it again. The text is whatever the caller rendered (see `services/channel_texts`):
the code spelled out digit by digit, so the speech engine never reads "123456" as one number.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

import httpx

from twostep.domain.delivery import DEFAULT_LANGUAGE, OutgoingMessage
from twostep.settings import Settings
from twostep.sms import http as shared
from twostep.sms.twilio import classify
from twostep.sms.twilio_receipts import callback_url

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
    name = "twilio"

    def __init__(
        self,
        http: httpx.Client,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str,
        status_callback: str | None = None,
    ) -> None:
        self._http = http
        # Twilio reports how the call ended (completed, busy, no-answer, failed) to TWOSTEP_PUBLIC_URL.
        self._status_callback = status_callback
        self._url = (
            f"{shared.base_url(base_url)}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Calls.json"
        )
        self._credentials = (account_sid, auth_token)
        self._from = from_number

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> TwilioVoiceSender:
        """Raises: ConfigurationError naming the first missing TWOSTEP_TWILIO_* setting."""
        what = "twilio voice"
        return cls(
            shared.client_for(settings, deps.http),
            base_url=settings.twilio_base_url,
            account_sid=shared.require(settings.twilio_account_sid, "TWOSTEP_TWILIO_ACCOUNT_SID", what),
            auth_token=shared.require(settings.twilio_auth_token, "TWOSTEP_TWILIO_AUTH_TOKEN", what),
            from_number=shared.require_number(settings.twilio_voice_from, "TWOSTEP_TWILIO_VOICE_FROM", what),
            status_callback=callback_url(settings.public_url) if settings.public_url else None,
        )

    def send_message(self, message: OutgoingMessage) -> str:
        """Place the call; returns Twilio's call `sid`. Raises: SmsDeliveryError."""
        form = {
            "To": message.to,
            "From": self._from,
            "Twiml": twiml(message.text, message.language),
            "TimeLimit": str(TIME_LIMIT_SECONDS),
        }
        if self._status_callback:
            form["StatusCallback"] = self._status_callback
        response = shared.post(
            self._http,
            self._url,
            provider=self.name,
            credentials=self._credentials,
            classify=classify,
            data=form,
        )
        return shared.accepted_id(response, self.name, lambda data: data.get("sid"))
