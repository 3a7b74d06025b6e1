"""Flowroute Messaging API v2.1: `POST /v2.1/messages` with a JSON:API body; numbers as digits, no `+`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

from twostep.domain.errors import ConfigurationError, SmsDeliveryError
from twostep.domain.provider_checks import CredentialAnswer
from twostep.settings import Settings
from twostep.sms import http as shared
from twostep.sms.credentials import get_status
from twostep.sms.flowroute_receipts import callback_url

if TYPE_CHECKING:
    from twostep.sms import SenderDeps

JSON_API = "application/vnd.api+json"


def flowroute_number(raw: str) -> str:
    """`+12065551234` or `12065551234` as Flowroute wants it: the E.164 digits without `+`."""
    return raw.strip().removeprefix("+")


def _message_id(data: dict[str, Any]) -> object:
    inner = data.get("data")
    return inner.get("id") if isinstance(inner, dict) else None


def _dlr_callback(settings: Settings) -> str | None:
    """The delivery-receipt URL, when this service has a public URL and a receipt secret."""
    if settings.public_url is None or settings.receipt_secret is None:
        return None
    return callback_url(settings.public_url, settings.receipt_secret.get_secret_value())


class FlowrouteSender:
    name = "flowroute"

    def __init__(
        self,
        http: httpx.Client,
        *,
        base_url: str,
        access_key: str,
        secret_key: str,
        from_number: str,
        dlr_callback: str | None = None,
    ) -> None:
        self._http = http
        # Where Flowroute posts delivery receipts: TWOSTEP_PUBLIC_URL's, with TWOSTEP_RECEIPT_SECRET in it.
        self._dlr_callback = dlr_callback
        self._url = f"{shared.base_url(base_url)}/v2.1/messages"
        self._numbers_url = f"{shared.base_url(base_url)}/v2/numbers"
        self._credentials = (access_key, secret_key)
        self._from = from_number

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> FlowrouteSender:
        """Raises: ConfigurationError for a From that is not 11 digits (presence is checked at start-up)."""
        access_key = shared.configured(settings.flowroute_access_key)
        secret_key = shared.configured(settings.flowroute_secret_key)
        from_number = flowroute_number(shared.configured(settings.flowroute_from))
        if not (from_number.isascii() and from_number.isdigit() and len(from_number) == 11):
            raise ConfigurationError(
                "TWOSTEP_FLOWROUTE_FROM must be your 11-digit Flowroute number, like 12065551234"
            )
        return cls(
            shared.client_for(settings, deps.http),
            base_url=settings.flowroute_base_url,
            access_key=access_key,
            secret_key=secret_key,
            from_number=from_number,
            dlr_callback=_dlr_callback(settings),
        )

    def send(self, to: str, body: str) -> str:
        """Returns Flowroute's message id (`data.id`). Raises: SmsDeliveryError."""
        recipient = flowroute_number(to)
        if not recipient.isdigit():
            raise SmsDeliveryError("rejected_number", provider=self.name)
        payload = {"to": recipient, "from": self._from, "body": body}
        if self._dlr_callback:
            payload["dlr_callback"] = self._dlr_callback
        response = shared.post(
            self._http,
            self._url,
            provider=self.name,
            credentials=self._credentials,
            content=json.dumps(payload).encode(),
            headers={"Content-Type": JSON_API, "Accept": JSON_API},
        )
        return shared.accepted_id(response, self.name, _message_id)

    def check_credentials(self) -> CredentialAnswer:
        """`GET /v2/numbers?limit=1`: one of the account's numbers, read with its keys (nothing sent)."""
        return get_status(
            self._http,
            self._numbers_url,
            provider=self.name,
            credentials=self._credentials,
            params={"limit": "1"},
        )
