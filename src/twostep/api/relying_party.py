"""The WebAuthn relying party a request is for: from the settings, or in dev from the request itself.

Passkeys are bound to the RP id (a domain) and the page origin the browser reports. In staging and
prod they come from TWOSTEP_WEBAUTHN_RP_ID / TWOSTEP_WEBAUTHN_ORIGINS or TWOSTEP_WEB_ORIGIN; in dev, with
none set, the request's `Origin` stands in (http://localhost counts as a secure context).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from twostep.domain.factor_errors import PasskeysNotConfigured
from twostep.services.passkeys import RelyingParty
from twostep.settings import Settings


def relying_party(request: Request, settings: Settings) -> RelyingParty:
    """Raises: PasskeysNotConfigured (outside dev, without settings)."""
    origins = list(settings.webauthn_origins) or ([settings.web_origin] if settings.web_origin else [])
    if not origins:
        if settings.stage != "dev":
            raise PasskeysNotConfigured()
        origins = [request.headers.get("origin") or f"{request.url.scheme}://{request.url.netloc}"]
    rp_id = settings.webauthn_rp_id or urlsplit(origins[0]).hostname or ""
    return RelyingParty(id=rp_id, name=settings.org_name, origins=tuple(o.rstrip("/") for o in origins))
