"""Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form fields)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from twostep.settings import Settings
from twostep.sms import http as shared
from twostep.sms.twilio_receipts import callback_url

if TYPE_CHECKING:
    from twostep.sms import SenderDeps

# Twilio error codes that are about the recipient; other 4xx codes (a bad From number, a messaging
# service without senders, ...) are our configuration, reported as provider_error.
RECIPIENT_ERRORS = frozenset({21211, 21214, 21217, 21219, 21407, 21408, 21610, 21612, 21614, 21635})
AUTH_ERRORS = frozenset({20003, 20005})
MAX_VALIDITY_SECONDS = 36000  # Twilio's upper bound for ValidityPeriod


def classify(response: httpx.Response) -> str | None:
    """The reason for a Twilio 4xx answer, from its numeric `code`."""
    code = shared.error_code(response)
    if code in RECIPIENT_ERRORS:
        return "rejected_number"
    if code in AUTH_ERRORS:
        return "auth"
    return None if code is None else "provider_error"


class TwilioSender:
    name = "twilio"

    def __init__(
        self,
        http: httpx.Client,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: tuple[str, str],
        status_callback: str | None = None,
    ) -> None:
        self._http = http
        # Where Twilio reports each message's fate (delivered, undelivered…): TWOSTEP_PUBLIC_URL's receipts.
        self._status_callback = status_callback
        self._url = (
            f"{shared.base_url(base_url)}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        )
        self._credentials = (account_sid, auth_token)
        self._sender = sender  # ("From", "+1…") or ("MessagingServiceSid", "MG…")

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> TwilioSender:
        """Raises: ConfigurationError naming the first missing TWOSTEP_TWILIO_* setting."""
        account_sid = shared.require(settings.twilio_account_sid, "TWOSTEP_TWILIO_ACCOUNT_SID", cls.name)
        auth_token = shared.require(settings.twilio_auth_token, "TWOSTEP_TWILIO_AUTH_TOKEN", cls.name)
        if settings.twilio_messaging_service_sid:
            sender = ("MessagingServiceSid", settings.twilio_messaging_service_sid.strip())
        else:
            setting = "TWOSTEP_TWILIO_FROM (or TWOSTEP_TWILIO_MESSAGING_SERVICE_SID)"
            sender = ("From", shared.require(settings.twilio_from, setting, cls.name))
        return cls(
            shared.client_for(settings, deps.http),
            base_url=settings.twilio_base_url,
            account_sid=account_sid,
            auth_token=auth_token,
            sender=sender,
            status_callback=callback_url(settings.public_url) if settings.public_url else None,
        )

    def send(self, to: str, body: str) -> str:
        """Returns Twilio's message `sid`. Raises: SmsDeliveryError."""
        return self._post({"To": to, self._sender[0]: self._sender[1], "Body": body})

    def send_expiring(self, to: str, body: str, valid_seconds: int) -> str:
        """Like `send`, with `ValidityPeriod`: Twilio drops the text if still queued when the code expires.

        Raises: SmsDeliveryError.
        """
        validity = min(MAX_VALIDITY_SECONDS, max(1, valid_seconds))
        return self._post(
            {"To": to, self._sender[0]: self._sender[1], "Body": body, "ValidityPeriod": str(validity)}
        )

    def _post(self, form: dict[str, str]) -> str:
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
