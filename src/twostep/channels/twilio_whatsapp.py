"""WhatsApp through Twilio's Messages API: the SMS request with `whatsapp:`-prefixed `To` and `From`.

Outside a 24-hour conversation WhatsApp delivers only pre-approved templates: with
`TWOSTEP_TWILIO_WHATSAPP_CONTENT_SID` set (an authentication template whose variable `{{1}}` is the
code) the request sends `ContentSid` and `ContentVariables` instead of the text; the sandbox takes any text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from twostep.domain.delivery import OutgoingMessage
from twostep.settings import Settings
from twostep.sms import http as shared
from twostep.sms.twilio import MAX_VALIDITY_SECONDS, TwilioAccount, TwilioSender

if TYPE_CHECKING:
    from twostep.sms import SenderDeps

PREFIX = "whatsapp:"


def whatsapp_address(number: str) -> str:
    """`+4915112345678` as Twilio's WhatsApp address `whatsapp:+4915112345678` (an existing prefix kept)."""
    number = number.strip()
    return number if number.startswith(PREFIX) else PREFIX + number


class TwilioWhatsAppSender(TwilioSender):
    def __init__(
        self, account: TwilioAccount, sender: tuple[str, str], content_sid: str | None = None
    ) -> None:
        super().__init__(account, sender)
        self._content_sid = content_sid

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> TwilioWhatsAppSender:
        """Raises: ConfigurationError for a From that is not E.164 (presence is checked at start-up)."""
        configured = shared.configured(settings.twilio_whatsapp_from).removeprefix(PREFIX)
        sender = shared.e164_number(configured, "TWOSTEP_TWILIO_WHATSAPP_FROM")
        return cls(
            TwilioAccount.from_settings(settings, deps),
            ("From", whatsapp_address(sender)),
            content_sid=shared.optional(settings.twilio_whatsapp_content_sid),
        )

    def send(self, to: str, body: str) -> str:
        return self.send_message(OutgoingMessage(to, body, "whatsapp"))

    def send_expiring(self, to: str, body: str, valid_seconds: int) -> str:
        return self.send_message(OutgoingMessage(to, body, "whatsapp", valid_seconds=valid_seconds))

    def send_message(self, message: OutgoingMessage) -> str:
        """Returns Twilio's message `sid`. Raises: SmsDeliveryError."""
        form = {"To": whatsapp_address(message.to), "From": self._sender[1]}
        if self._content_sid and message.code:
            form |= {"ContentSid": self._content_sid, "ContentVariables": json.dumps({"1": message.code})}
        else:
            form["Body"] = message.text
        if message.valid_seconds is not None:
            form["ValidityPeriod"] = str(min(MAX_VALIDITY_SECONDS, max(1, message.valid_seconds)))
        return self._post(form)
