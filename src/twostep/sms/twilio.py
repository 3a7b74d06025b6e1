"""Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from twostep.domain.provider_checks import CredentialAnswer
from twostep.settings import Settings
from twostep.sms import http as shared
from twostep.sms.credentials import get_status
from twostep.sms.twilio_receipts import callback_url

if TYPE_CHECKING:
    from twostep.sms import SenderDeps

# Twilio error codes that are about the recipient; other 4xx codes (a bad From number, a messaging
# service without senders, ...) are our configuration, reported as provider_error.
RECIPIENT_ERRORS = frozenset({21211, 21214, 21217, 21219, 21407, 21408, 21610, 21612, 21614, 21635})
AUTH_ERRORS = frozenset({20003, 20005})
# 403 20008: test credentials, which send (Messages) but may read no other resource, the account's either.
TEST_CREDENTIALS_ONLY = frozenset({20008})
MAX_VALIDITY_SECONDS = 36000  # Twilio's upper bound for ValidityPeriod
PROVIDER = "twilio"


def classify(response: httpx.Response) -> str | None:
    """The reason for a Twilio 4xx answer, from its numeric `code`."""
    code = shared.error_code(response)
    if code in RECIPIENT_ERRORS:
        return "rejected_number"
    if code in AUTH_ERRORS:
        return "auth"
    return None if code is None else "provider_error"


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    """One Twilio account's REST API, shared by its SMS, WhatsApp and voice senders: where to post, with
    which credentials, and where Twilio reports each message's fate (TWOSTEP_PUBLIC_URL's receipts)."""

    http: httpx.Client
    url: str  # …/2010-04-01/Accounts/{AccountSid}
    credentials: tuple[str, str]
    status_callback: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> TwilioAccount:
        """The account of the checked settings (the registry's `needs` hold its SID and token)."""
        account_sid = shared.configured(settings.twilio_account_sid)
        auth_token = shared.configured(settings.twilio_auth_token)
        return cls(
            shared.client_for(settings, deps.http),
            f"{shared.base_url(settings.twilio_base_url)}/2010-04-01/Accounts/{quote(account_sid, safe='')}",
            (account_sid, auth_token),
            callback_url(settings.public_url) if settings.public_url else None,
        )

    def post(self, resource: str, form: dict[str, str]) -> str:
        """POST `form` to `resource` (`Messages.json`, `Calls.json`); returns the new `sid`.

        Raises: SmsDeliveryError.
        """
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        response = shared.post(
            self.http,
            f"{self.url}/{resource}",
            provider=PROVIDER,
            credentials=self.credentials,
            classify=classify,
            data=form,
        )
        return shared.accepted_id(response, PROVIDER, lambda data: data.get("sid"))

    def check_credentials(self) -> CredentialAnswer:
        """`GET …/Accounts/{AccountSid}.json`: the account's own record, read with its credentials."""
        return get_status(
            self.http,
            f"{self.url}.json",
            provider=PROVIDER,
            credentials=self.credentials,
            not_refusing=TEST_CREDENTIALS_ONLY,
        )


class TwilioSender:
    name = PROVIDER

    def __init__(self, account: TwilioAccount, sender: tuple[str, str]) -> None:
        self._account = account
        self._sender = sender  # ("From", "+1…") or ("MessagingServiceSid", "MG…")

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> TwilioSender:
        """The SMS sender of checked settings: the messaging service when set, else the From number."""
        account = TwilioAccount.from_settings(settings, deps)
        service = shared.optional(settings.twilio_messaging_service_sid)
        if service is not None:
            sender = ("MessagingServiceSid", service)
        else:
            sender = ("From", shared.configured(settings.twilio_from))
        return cls(account, sender)

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

    def check_credentials(self) -> CredentialAnswer:
        """Whether Twilio takes the account's credentials (nothing sent)."""
        return self._account.check_credentials()

    def _post(self, form: dict[str, str]) -> str:
        return self._account.post("Messages.json", form)
