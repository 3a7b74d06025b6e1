"""sipgate.io: `POST /v2/sessions/sms` with a personal access token; answers 204 with no body."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import httpx

from twostep.domain.provider_checks import CredentialAnswer
from twostep.settings import Settings
from twostep.sms import http as shared
from twostep.sms.credentials import get_status

if TYPE_CHECKING:
    from twostep.sms import SenderDeps


# sipgate answers 401 for a wrong token; 403 means the token works but may not send from this SMS id
# (an id of another account, or a token without the `sessions:sms:write` scope).
STATUS_REASONS = {403: "sender_refused"}


class SipgateSender:
    name = "sipgate"

    def __init__(self, http: httpx.Client, *, base_url: str, token_id: str, token: str, sms_id: str) -> None:
        self._http = http
        self._url = f"{shared.base_url(base_url)}/v2/sessions/sms"
        self._userinfo_url = f"{shared.base_url(base_url)}/v2/authorization/userinfo"
        self._credentials = (token_id, token)
        self._sms_id = sms_id

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> SipgateSender:
        """The sender of checked settings (the registry's `needs` hold the token and SMS id)."""
        return cls(
            shared.client_for(settings, deps.http),
            base_url=settings.sipgate_base_url,
            token_id=shared.configured(settings.sipgate_token_id),
            token=shared.configured(settings.sipgate_token),
            sms_id=shared.configured(settings.sipgate_sms_id),
        )

    def send(self, to: str, body: str) -> str:
        """sipgate returns no message id, so this is a local reference for the logs.

        Raises: SmsDeliveryError.
        """
        shared.post(
            self._http,
            self._url,
            provider=self.name,
            credentials=self._credentials,
            status_reasons=STATUS_REASONS,
            json={"smsId": self._sms_id, "recipient": to, "message": body},
        )
        return "sipgate-" + secrets.token_hex(8)

    def check_credentials(self) -> CredentialAnswer:
        """`GET /v2/authorization/userinfo`: whom the token belongs to; any valid token may read it."""
        return get_status(self._http, self._userinfo_url, provider=self.name, credentials=self._credentials)
