"""WhatsApp through Twilio's Messages API: the SMS request with `whatsapp:`-prefixed `To` and `From`.

Outside a 24-hour conversation WhatsApp delivers only pre-approved templates: register the code text
as an authentication template with Twilio (the sandbox takes any text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twostep.domain.delivery import OutgoingMessage
from twostep.settings import Settings
from twostep.sms import http as shared
from twostep.sms.twilio import MAX_VALIDITY_SECONDS, TwilioSender

if TYPE_CHECKING:
    from twostep.sms import SenderDeps

PREFIX = "whatsapp:"


def whatsapp_address(number: str) -> str:
    """`+4915112345678` as Twilio's WhatsApp address `whatsapp:+4915112345678` (an existing prefix kept)."""
    number = number.strip()
    return number if number.startswith(PREFIX) else PREFIX + number


class TwilioWhatsAppSender(TwilioSender):
    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> TwilioWhatsAppSender:
        """Raises: ConfigurationError naming the first missing TWOSTEP_TWILIO_* setting."""
        what = "twilio whatsapp"
        sender = shared.require(settings.twilio_whatsapp_from, "TWOSTEP_TWILIO_WHATSAPP_FROM", what)
        return cls(
            shared.client_for(settings, deps.http),
            base_url=settings.twilio_base_url,
            account_sid=shared.require(settings.twilio_account_sid, "TWOSTEP_TWILIO_ACCOUNT_SID", what),
            auth_token=shared.require(settings.twilio_auth_token, "TWOSTEP_TWILIO_AUTH_TOKEN", what),
            sender=("From", whatsapp_address(sender)),
        )

    def send(self, to: str, body: str) -> str:
        return self.send_message(OutgoingMessage(to, body, "whatsapp"))

    def send_expiring(self, to: str, body: str, valid_seconds: int) -> str:
        return self.send_message(OutgoingMessage(to, body, "whatsapp", valid_seconds=valid_seconds))

    def send_message(self, message: OutgoingMessage) -> str:
        """Returns Twilio's message `sid`. Raises: SmsDeliveryError."""
        form = {"To": whatsapp_address(message.to), "From": self._sender[1], "Body": message.text}
        if message.valid_seconds is not None:
            form["ValidityPeriod"] = str(min(MAX_VALIDITY_SECONDS, max(1, message.valid_seconds)))
        return self._post(form)
